# Empty dependencies file for ob_classes.
# This may be replaced when dependencies are built.
