// A plugin that says it was built for another plugin ABI: pixline must
// refuse it by reading only the ABI number.
struct future_descriptor {
  int abi;
  const char* something_new;
};

extern "C" __attribute__((visibility("default")))
const future_descriptor pixline_plugin_v1 = {999, "from the future"};
