"""Planning packages: an area, its layers, indicators, maps, report and licences in one ZIP."""
