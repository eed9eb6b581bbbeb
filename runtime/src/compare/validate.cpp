// A validator for the subset of JSON Schema (draft 2020-12) that docs/compare.schema.json uses.
#include <isomer/compare.h>
#include <isomer/error.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace isomer::compare {
namespace {

using json = nlohmann::json;

bool has_type(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  fail("schema: unsupported type '{}'", type);
}

void check(const json& v, const json& schema, const json& root, const std::string& at,
           std::vector<std::string>& problems) {
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) problems.push_back(at + ": not allowed");
    return;
  }
  for (const auto& [key, _] : schema.items())
    if (key != "$ref" && key != "type" && key != "required" && key != "properties" && key != "items" &&
        key != "enum" && key != "minimum" && key != "maximum" && key != "additionalProperties" &&
        key != "$defs" && key != "anyOf" && key != "$schema" && key != "$id" && key != "title" && key != "description")
      fail("schema: unsupported keyword '{}' at {}", key, at.empty() ? "/" : at);
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    if (!ref.starts_with("#/$defs/")) fail("schema: unsupported $ref '{}'", ref);
    check(v, root["$defs"].at(ref.substr(8)), root, at, problems);
  }
  if (schema.contains("anyOf")) {
    bool ok = false;
    std::vector<std::string> first;  // the problems of the first branch whose type fits
    const std::string type_mismatch = (at.empty() ? "/" : at) + ": " + v.type_name() + " is not of type";
    for (const auto& branch : schema["anyOf"]) {
      std::vector<std::string> p;
      check(v, branch, root, at, p);
      if (p.empty()) ok = true;
      else if (first.empty() || (first.size() == 1 && first[0].starts_with(type_mismatch))) first = p;
    }
    if (!ok) {
      problems.push_back(fmt::format("{}: matches none of anyOf", at.empty() ? "/" : at));
      problems.insert(problems.end(), first.begin(), first.end());
    }
  }
  if (schema.contains("type")) {
    const json& t = schema["type"];
    bool ok = false;
    if (t.is_array())
      for (const auto& one : t) ok = ok || has_type(v, one);
    else
      ok = has_type(v, t);
    if (!ok) {
      problems.push_back(fmt::format("{}: {} is not of type {}", at.empty() ? "/" : at, v.type_name(), t.dump()));
      return;
    }
  }
  if (schema.contains("enum")) {
    bool ok = false;
    for (const auto& e : schema["enum"]) ok = ok || e == v;
    if (!ok) problems.push_back(fmt::format("{}: {} is not one of {}", at, v.dump(), schema["enum"].dump()));
  }
  if (v.is_number()) {
    if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>())
      problems.push_back(fmt::format("{}: {} is under the minimum {}", at, v.dump(), schema["minimum"].dump()));
    if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>())
      problems.push_back(fmt::format("{}: {} is over the maximum {}", at, v.dump(), schema["maximum"].dump()));
  }
  if (v.is_object()) {
    if (schema.contains("required"))
      for (const auto& k : schema["required"])
        if (!v.contains(k.get<std::string>()))
          problems.push_back(fmt::format("{}: '{}' is missing", at.empty() ? "/" : at, k.get<std::string>()));
    const json props = schema.value("properties", json::object());
    for (const auto& [k, child] : v.items()) {
      if (props.contains(k)) check(child, props[k], root, at + "/" + k, problems);
      else if (schema.contains("additionalProperties"))
        check(child, schema["additionalProperties"], root, at + "/" + k, problems);
    }
  }
  if (v.is_array() && schema.contains("items"))
    for (size_t i = 0; i < v.size(); ++i) check(v[i], schema["items"], root, fmt::format("{}/{}", at, i), problems);
}

}  // namespace

std::vector<std::string> validate(const std::string& text, const std::string& schema_text) {
  std::vector<std::string> problems;
  json v, schema;
  try {
    v = json::parse(text);
  } catch (const json::exception& e) {
    return {fmt::format("not JSON: {}", e.what())};
  }
  try {
    schema = json::parse(schema_text);
  } catch (const json::exception& e) {
    fail("schema: not JSON: {}", e.what());
  }
  check(v, schema, schema, "", problems);
  return problems;
}

}  // namespace isomer::compare
