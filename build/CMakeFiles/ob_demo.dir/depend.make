# Empty dependencies file for ob_demo.
# This may be replaced when dependencies are built.
