# Empty dependencies file for ob_microbench.
# This may be replaced when dependencies are built.
