#!/bin/bash
# The shell suites' checks each test what they say: "check DESCRIPTION A && B"
# runs check on A alone and B after it, unchecked, so a condition of several
# parts goes in a function (cond() { A && B; }; check DESCRIPTION cond). This
# finds a check whose command line goes on after && or || at its top level.
set -u
dir=$(dirname "$0")/integration
python3 - "$dir"/*.sh <<'PY'
import sys

def statements(text):
    """(line number, statement) with backslash and &&/|| line continuations joined"""
    start, cur = 1, []
    for n, line in enumerate(text.split("\n"), 1):
        if not cur:
            start = n
        cur.append(line)
        s = line.rstrip()
        if not (s.endswith("\\") or s.endswith("&&") or s.endswith("||")):
            yield start, "\n".join(cur)
            cur = []

def goes_on(stmt):
    """&& or || outside quotes, $( ) and ( ) before the statement ends"""
    quote, depth, i = None, 0, 0
    while i < len(stmt):
        c = stmt[i]
        if quote == "'":
            quote = None if c == "'" else quote
        elif c == "\\":
            i += 1
        elif quote == '"' and c == '"':
            quote = None
        elif quote is None and c in "'\"":
            quote = c
        elif stmt.startswith("$(", i) or (quote is None and c == "("):
            depth += 1
            i += stmt.startswith("$(", i)
        elif c == ")" and depth:
            depth -= 1
        elif quote is None and not depth:
            if stmt.startswith("&&", i) or stmt.startswith("||", i):
                return True
            if c in ";#" and (c == ";" or stmt[i - 1] in " \t"):
                return False
        i += 1
    return False

bad = 0
for path in sys.argv[1:]:
    for n, stmt in statements(open(path).read()):
        s = stmt.lstrip()
        if s.startswith("check ") and goes_on(s):
            bad += 1
            print(f"not ok - {path}:{n}: the check tests only its first command: {s.splitlines()[0][:90]}")
print(f"checks-lint: {bad} check{'s' if bad != 1 else ''} testing less than they say")
sys.exit(1 if bad else 0)
PY
