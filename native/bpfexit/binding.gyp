{
  "targets": [
    {
      "target_name": "bpfexit",
      "sources": ["bpfexit.c", "../bpf-common/bpf_common.c"],
      "include_dirs": ["../bpf-common"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "libraries": ["-lm"]
    }
  ]
}
