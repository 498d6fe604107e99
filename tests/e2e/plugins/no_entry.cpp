// A shared library that is not a pixline plugin (no PIXLINE_PLUGIN).
extern "C" __attribute__((visibility("default"))) int not_a_plugin() {
  return 42;
}
