# tocsin's wrapper of a tocsin:script python3 step: argv is the script's
# file and the handler's name, stdin the InputPayload as JSON. The user's
# print() (and anything a subprocess writes to fd 1) goes to stderr; the
# handler's return value, as JSON, is the only thing on the real stdout.
import json
import os
import sys


def main():
    script, handler = sys.argv[1], sys.argv[2]
    result_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    raw = sys.stdin.read()
    events = json.loads(raw) if raw.strip() else {}
    with open(script, encoding="utf-8") as f:
        code = compile(f.read(), script, "exec")
    namespace = {"__name__": "__tocsin_script__", "__file__": script}
    exec(code, namespace)
    fn = namespace.get(handler)
    if not callable(fn):
        sys.stderr.write("tocsin: the script defines no function %r (Handler)\n" % handler)
        sys.exit(2)
    result = fn(events, {})
    result_out.write(json.dumps(result, default=str))
    result_out.flush()


main()
