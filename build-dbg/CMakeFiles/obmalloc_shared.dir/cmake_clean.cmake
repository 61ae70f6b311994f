file(REMOVE_RECURSE
  "libobmalloc.pdb"
  "libobmalloc.so"
  "libobmalloc.so.0"
  "libobmalloc.so.0.1.0"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/obmalloc_shared.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
