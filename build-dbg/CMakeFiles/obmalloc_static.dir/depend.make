# Empty dependencies file for obmalloc_static.
# This may be replaced when dependencies are built.
