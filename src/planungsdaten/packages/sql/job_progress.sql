UPDATE package_job SET progress = :progress, step = :step WHERE id = :id AND status = 'running'
