"""Rust source text for the house checks (module-cycles.py, long-functions.py): the code with
comments, strings and char literals blanked, so that what remains is code alone and every
offset and line number is kept."""
import re


def strip(text):
    """The code with comments, string and char literals blanked (lengths kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 10]) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "b" and i + 1 < n and text[i+1] == '"' and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_")):
            out.append(" "); i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:  # a lifetime
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)




CFG_TEST = re.compile(r"#\[cfg\(\s*test\s*\)\]")
ATTRIBUTE = re.compile(r"#!?\[")
OPEN, CLOSE = "([{", ")]}"


def _item_end(code, i):
    """Where the item (or field, or variant) starting at `i` ends: after its body's closing
    brace, or at the `;` or `,` that ends it, or before the `}`/`)` of what encloses it. Angle
    brackets count as nesting outside bodies (`HashMap<A, B>`), arrows do not."""
    n, depth, angle = len(code), 0, 0
    while i < n:
        c = code[i]
        if ATTRIBUTE.match(code, i) and depth == 0:
            # A further attribute of the same item: skip its brackets.
            j = code.index("[", i)
            i = _matching(code, j) + 1
            continue
        if c in OPEN:
            if c == "{" and depth == 0:
                return _matching(code, i) + 1
            depth += 1
        elif c in CLOSE:
            if depth == 0:
                return i
            depth -= 1
        elif c == "<" and depth == 0:
            angle += 1
        elif c == ">" and depth == 0 and angle and code[i - 1] not in "-=":
            angle -= 1
        elif c in ";," and depth == 0 and angle == 0:
            return i + 1
        i += 1
    return n


def _matching(code, i):
    """The index of the bracket that closes the one at `i`."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] in OPEN:
            depth += 1
        elif code[j] in CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def without_test_items(code):
    """Stripped code (see `strip`) with every item marked `#[cfg(test)]` blanked, wherever it
    stands: a test module, a function, a `use`, a struct field or an enum variant. Only that
    item goes: the code after it is kept (line numbers and offsets unchanged)."""
    out = list(code)
    pos = 0
    while True:
        m = CFG_TEST.search(code, pos)
        if not m:
            return "".join(out)
        end = _item_end(code, m.end())
        for k in range(m.start(), end):
            if out[k] != "\n":
                out[k] = " "
        pos = max(end, m.end())
