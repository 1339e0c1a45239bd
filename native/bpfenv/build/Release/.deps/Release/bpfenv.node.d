cmd_Release/bpfenv.node := ln -f "Release/obj.target/bpfenv.node" "Release/bpfenv.node" 2>/dev/null || (rm -rf "Release/bpfenv.node" && cp -af "Release/obj.target/bpfenv.node" "Release/bpfenv.node")
