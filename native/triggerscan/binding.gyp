{
  "targets": [
    {
      "target_name": "triggerscan",
      "sources": ["triggerscan.c"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
