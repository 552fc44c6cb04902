{
  "targets": [
    {
      "target_name": "tee_verify",
      "sources": [
        "cpp/core/parse_error.cc",
        "cpp/core/layout.cc",
        "cpp/core/intel_quote.cc",
        "cpp/core/snp_report.cc",
        "cpp/core/ecdsa.cc",
        "cpp/core/tpm.cc",
        "cpp/core/hcl_report.cc",
        "cpp/core/tcg_event_log.cc",
        "cpp/core/ima_list.cc",
        "cpp/binding/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-unused-parameter",
        "-fstack-protector-strong",
        "-D_FORTIFY_SOURCE=2"
      ],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now"]
    }
  ]
}
