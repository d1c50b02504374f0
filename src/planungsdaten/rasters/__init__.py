"""Raster sources: conversion to Cloud-Optimized GeoTIFF, storage and lookup."""
