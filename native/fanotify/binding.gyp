{
  "targets": [
    {
      "target_name": "lantern_fanotify",
      "sources": ["fanotify.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "libraries": ["-lpthread"]
    }
  ]
}
