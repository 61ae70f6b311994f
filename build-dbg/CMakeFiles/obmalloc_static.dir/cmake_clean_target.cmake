file(REMOVE_RECURSE
  "libobmalloc.a"
)
