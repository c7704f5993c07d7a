#!/usr/bin/env python3
"""What a user would otherwise write: parse the template, substitute each row, dump JSON per row.

    python3 naive.py DATA.csv TEMPLATE.json > projects.jsonl

Handles what the two-scene benchmark template uses: {{column}} placeholders in strings, whole-string
{{number column}}, and one binding column "@clip-id/field:int". No validation.
"""
import copy, csv, json, re, sys

PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
TYPED = re.compile(r"^\{\{\s*(number|int|bool|json)\s+([^}\s]+)\s*\}\}$")


def substitute(value, row):
    if isinstance(value, dict):
        return {k: substitute(v, row) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, row) for v in value]
    if isinstance(value, str) and "{{" in value:
        m = TYPED.match(value)
        if m:
            kind, col = m.groups()
            cell = row[col]
            return {"number": float, "int": int, "bool": lambda s: s.lower() in ("true", "1", "yes"), "json": json.loads}[kind](cell)
        return PLACEHOLDER.sub(lambda m: row[m.group(1)], value)
    return value


def main():
    data, template_path = sys.argv[1], sys.argv[2]
    template = json.load(open(template_path))
    out = sys.stdout
    with open(data, newline="", encoding="utf-8-sig") as f:
        for n, row in enumerate(csv.DictReader(f), start=1):
            project = substitute(template, row)
            for column, cell in row.items():
                if column.startswith("@") and cell:
                    selector, _, kind = column.partition(":")
                    clip_id, _, field = selector[1:].partition("/")
                    for scene in project["scenes"]:
                        for clip in scene["clips"]:
                            if clip.get("id") == clip_id:
                                clip[field] = int(cell) if kind == "int" else cell
            out.write(json.dumps({"row": n, "key": row["customer_id"], "project": project}, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


main()
