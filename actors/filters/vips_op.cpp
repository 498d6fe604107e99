#include "actors/filters/vips_op.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <vips/vips8>

#include "pipeline/registry.hpp"
#include "pipeline/vips_modules.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

namespace {

/// One argument the stage passes on: its name, how to hand a value to
/// libvips, and whether it must be given.
struct argument {
  /// libvips' name ("min-ampl") and the option's ("min_ampl").
  std::string name;
  std::string option;
  option_type type;
  /// For enums: libvips' enum type, to turn the nick into its value.
  GType enum_type = 0;
  bool required = false;
};

/// The stage: calls the operation with the image as `in` and the options.
class vips_operation_stage : public stage {
public:
  vips_operation_stage(std::string operation, std::vector<argument> args,
                       option_map values)
    : operation_(std::move(operation)),
      args_(std::move(args)),
      values_(std::move(values)) {
    for (auto& a : args_)
      if (a.required && !values_.count(a.option))
        throw std::invalid_argument(
          fmt::format("option '{}' is required (libvips {} needs it)",
                      a.option, operation_));
  }

  void process(image& img) override {
    vips::VImage out;
    auto* options = vips::VImage::option()->set("in", img.pixels);
    for (auto& a : args_) {
      auto it = values_.find(a.option);
      if (it == values_.end())
        continue;
      auto& v = it->second;
      switch (a.type) {
        case option_type::boolean:
          options->set(a.name.c_str(), std::get<bool>(v));
          break;
        case option_type::integer:
          options->set(a.name.c_str(), int(std::get<std::int64_t>(v)));
          break;
        case option_type::number:
          options->set(a.name.c_str(), std::get<double>(v));
          break;
        case option_type::string:
          options->set(a.name.c_str(), std::get<std::string>(v).c_str());
          break;
        case option_type::choice:
          options->set(a.name.c_str(),
                       vips_enum_from_nick("pixline", a.enum_type,
                                           std::get<std::string>(v).c_str()));
          break;
        case option_type::list:
        case option_type::placement:
          // No libvips argument maps to one (vips_stage_spec).
          break;
      }
    }
    options->set("out", &out);
    vips::VImage::call(operation_.c_str(), options);
    img.pixels = out;
  }

private:
  std::string operation_;
  std::vector<argument> args_;
  option_map values_;
};

struct g_unref {
  void operator()(gpointer p) const {
    g_object_unref(p);
  }
};

/// The option for a libvips argument, or nothing when its type has no
/// config equivalent (images, arrays, blobs...).
std::optional<std::pair<option_spec, argument>> option_of(GParamSpec* pspec,
                                                          bool required) {
  option_spec o;
  argument a;
  a.name = g_param_spec_get_name(pspec);
  // Config keys and --chain words use underscores, as pixline's own stages.
  o.name = a.name;
  for (auto& c : o.name)
    if (c == '-')
      c = '_';
  a.option = o.name;
  a.required = required;
  o.required = required;
  const char* blurb = g_param_spec_get_blurb(pspec);
  o.doc = blurb ? blurb : "";
  if (required)
    o.doc += o.doc.empty() ? "Required" : ". Required";
  auto type = G_PARAM_SPEC_VALUE_TYPE(pspec);
  if (G_IS_PARAM_SPEC_BOOLEAN(pspec)) {
    o.type = option_type::boolean;
    o.default_value = bool(G_PARAM_SPEC_BOOLEAN(pspec)->default_value);
  } else if (G_IS_PARAM_SPEC_INT(pspec)) {
    auto* p = G_PARAM_SPEC_INT(pspec);
    o.type = option_type::integer;
    o.default_value = std::int64_t{p->default_value};
    o.min = p->minimum;
    o.max = p->maximum;
  } else if (G_IS_PARAM_SPEC_UINT64(pspec)) {
    auto* p = G_PARAM_SPEC_UINT64(pspec);
    o.type = option_type::integer;
    o.default_value = std::int64_t(p->default_value);
    o.min = double(p->minimum);
    o.max = std::min(double(p->maximum),
                     double(std::numeric_limits<std::int64_t>::max()));
  } else if (G_IS_PARAM_SPEC_DOUBLE(pspec)) {
    auto* p = G_PARAM_SPEC_DOUBLE(pspec);
    o.type = option_type::number;
    o.default_value = p->default_value;
    o.min = p->minimum;
    o.max = p->maximum;
  } else if (G_IS_PARAM_SPEC_STRING(pspec)) {
    o.type = option_type::string;
    auto d = G_PARAM_SPEC_STRING(pspec)->default_value;
    o.default_value = std::string{d ? d : ""};
    // The string arguments of libvips' one-image operations are ICC
    // profiles (icc_transform's input-profile, thumbnail_image's
    // export-profile...): libvips' built-in names, or a file it reads.
    if (a.name.ends_with("profile")) {
      o.names_file = true;
      o.builtin_names = {"srgb", "p3", "cmyk", "none"};
    }
  } else if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    auto* p = G_PARAM_SPEC_ENUM(pspec);
    o.type = option_type::choice;
    a.enum_type = type;
    for (guint i = 0; i < p->enum_class->n_values; ++i) {
      auto& v = p->enum_class->values[i];
      // libvips closes its enums with a "last" value nobody may pass.
      if (std::string{v.value_nick} == "last")
        continue;
      o.choices.emplace_back(v.value_nick);
      if (v.value == p->default_value)
        o.default_value = std::string{v.value_nick};
    }
    if (!std::holds_alternative<std::string>(o.default_value)
        && !o.choices.empty())
      o.default_value = o.choices.front();
  } else {
    return std::nullopt;
  }
  a.type = o.type;
  return std::make_pair(std::move(o), std::move(a));
}

} // namespace

std::optional<stage_spec> vips_operation_spec(const std::string& operation) {
  // The operation may come from one of libvips' modules (heifsave,
  // pdfload, magickload...).
  load_vips_modules();
  if (operation.empty()
      || !vips_type_find("VipsOperation", operation.c_str()))
    return std::nullopt;
  std::unique_ptr<VipsOperation, g_unref> op{
    vips_operation_new(operation.c_str())};
  if (!op) {
    vips_error_clear();
    return std::nullopt;
  }
  if (vips_operation_get_flags(op.get()) & VIPS_OPERATION_DEPRECATED)
    return std::nullopt;
  const char** names = nullptr;
  int* flags = nullptr;
  int n = 0;
  if (vips_object_get_args(VIPS_OBJECT(op.get()), &names, &flags, &n) != 0)
    return std::nullopt;

  stage_spec spec;
  std::vector<argument> args;
  bool image_in = false;
  bool image_out = false;
  auto* klass = G_OBJECT_GET_CLASS(op.get());
  for (int i = 0; i < n; ++i) {
    std::string name = names[i];
    auto f = VipsArgumentFlags(flags[i]);
    if (f & VIPS_ARGUMENT_DEPRECATED)
      continue;
    bool required = f & VIPS_ARGUMENT_REQUIRED;
    auto* pspec = g_object_class_find_property(klass, name.c_str());
    if (!pspec)
      continue;
    bool is_image = G_PARAM_SPEC_VALUE_TYPE(pspec) == VIPS_TYPE_IMAGE;
    if (f & VIPS_ARGUMENT_OUTPUT) {
      if (name == "out" && is_image)
        image_out = true;
      else if (required)
        return std::nullopt; // another required output: not a filter
      continue;
    }
    // VipsObject's own properties, not the operation's.
    if (name == "nickname" || name == "description")
      continue;
    if (name == "in" && is_image) {
      image_in = true;
      continue;
    }
    auto option = option_of(pspec, required);
    if (!option) {
      if (required)
        return std::nullopt; // an image or array we cannot give it
      continue;
    }
    spec.options.push_back(std::move(option->first));
    args.push_back(std::move(option->second));
  }
  if (!image_in || !image_out)
    return std::nullopt;
  auto* object_class = VIPS_OBJECT_GET_CLASS(op.get());
  spec.summary = fmt::format("libvips {}: {}", operation,
                             object_class->description
                               ? object_class->description
                               : "");
  spec.example = fmt::format("[[filter]]\ntype = \"vips:{}\"", operation);
  for (auto& a : args)
    if (a.required)
      for (auto& o : spec.options)
        if (o.name == a.option)
          spec.example += fmt::format("\n{} = {}", o.name,
                                      to_string(o.default_value));
  // Whether an operation reads its input in order is not something libvips
  // says; random access is always correct.
  spec.random_access = true;
  spec.make = [operation, args](const option_map& values) {
    return std::make_unique<vips_operation_stage>(operation, args, values);
  };
  return spec;
}

void register_vips_operations(stage_registry& registry) {
  registry.add_family(
    "vips",
    "Any libvips operation that makes one image from one image, e.g. "
    "vips:gaussblur; `pixline stages vips:NAME` shows its options",
    vips_operation_spec);
}

} // namespace pixline
