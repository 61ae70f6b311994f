# Empty dependencies file for obmalloc_objects.
# This may be replaced when dependencies are built.
