# Empty dependencies file for obmalloc_shared.
# This may be replaced when dependencies are built.
