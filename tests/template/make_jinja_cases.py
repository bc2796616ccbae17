#!/usr/bin/env python3
"""Regenerates jinja_cases.jsonl: each case's expected output comes from Python Jinja2 3.1
configured as transformers configures it for chat templates (sandboxed environment with
trim_blocks, lstrip_blocks, loopcontrols, its tojson, raise_exception and strftime_now).
Run: python3 tests/template/make_jinja_cases.py > tests/template/jinja_cases.jsonl"""
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import SandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class GenerationBlock(jinja2.ext.Extension):
    """transformers' AssistantTracker as far as rendering goes: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


env = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                           extensions=[GenerationBlock, jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <there> & 'you'"},
    {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
    {"role": "tool", "content": "{\"temp\": 21.5}"},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather «now» \"quoted\"\n",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                         "required": ["city"]}}}]
DATA = {"messages": MESSAGES, "tools": TOOLS, "n": 7, "f": 2.5, "s": "  Hello World  ", "u": "héllo wörld ß",
        "xs": [3, 1, 2], "words": ["b", "A", "c", "a"], "d": {"b": 1, "a": 2, "c": None}, "t": True, "none": None,
        "people": [{"name": "Ann", "age": 31, "admin": True}, {"name": "bob", "age": 25, "admin": False},
                   {"name": "Cy", "age": 40}]}

CASES = [
    # literals and printing
    ("print_scalars", "{{ 1 }}|{{ 1.0 }}|{{ -0.5 }}|{{ 1e3 }}|{{ 1_000 }}|{{ 1.5e-7 }}|{{ 10**15 }}|{{ 2**62 }}|{{ 1e16 }}|{{ 123456789.125 }}"),
    ("print_constants", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ undefined_name }}|"),
    ("print_containers", "{{ [1, 'a', \"b'c\", none, true, 2.0, [], {}] }} {{ {'k': [1, {'x': 'y'}], 2: 'two'} }} {{ (1,) }} {{ (1, 'a') }} {{ () }}"),
    ("print_string_repr", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'tab\\tnl\\n\\\\'] }}"),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600 \\d' }}|{{ \"dq 'single'\" }}|{{ 'con' 'cat' }}"),
    ("print_data", "{{ messages[0] }}\n{{ d }} {{ xs }} {{ t }} {{ none }}"),
    # arithmetic
    ("arithmetic", "{{ 7 + 2 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2.5 * 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
    ("arithmetic_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }} {{ (1 + 2) ~ 3 }} {{ 'a' ~ 1 * 2 }} {{ 1 ~ 2 * 3 }}"),
    ("arithmetic_mixed", "{{ true + 1 }} {{ 1 + 1.5 }} {{ 'ab' * 3 }} {{ 2 * 'xy' }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ 'a' + 'b' }} {{ n ~ f ~ none ~ t ~ undefined_name }}"),
    ("unary", "{{ -n }} {{ +n }} {{ -f }} {{ not n }} {{ not none }} {{ - -3 }} {{ -(xs|length) }} {{ -3|abs }}"),
    # comparisons and logic
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 4 >= 4 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ none == none }} {{ d == {'b': 1, 'a': 2, 'c': none} }}"),
    ("membership", "{{ 'ell' in 'hello' }} {{ 2 in xs }} {{ 5 not in xs }} {{ 'a' in d }} {{ 'z' in d }} {{ not 'a' in d }} {{ 'x' in undefined_name }}"),
    ("logic_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ [] or 0 }} {{ 1 and 0 or 5 }} {{ not 1 and 0 }} {{ undefined_name or 'fallback' }}"),
    ("ternary", "{{ 'yes' if t else 'no' }} {{ 'yes' if none else 'no' }} [{{ 'only' if false }}] {{ 'a' if false else 'b' if true else 'c' }} {{ (1 if t else 2) + 10 }}"),
    # access
    ("attribute_and_item", "{{ messages[1].role }} {{ messages[1]['content'] }} {{ messages[-1].content }} {{ d.a }} {{ d['c'] }} [{{ d.missing }}] {{ xs.0 }} {{ people[0]['name'] }}"),
    ("slices", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[5:] }} {{ xs[-10:2] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ u[1:4] }} {{ u[-1] }} {{ 'abc'[-1] }} {{ xs[1:2:1] }}"),
    # whitespace control
    ("trim_and_lstrip_blocks", "<ul>\n    {% for x in xs %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n  {# comment #}\nend\n"),
    ("dash_markers", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c {{- ' d ' -}} e\n{#- c -#}\n f"),
    ("plus_markers", "x\n    {%+ if true %}y{% endif +%}\nz\n  {{ 'v' }}\n"),
    ("lstrip_only_spaces", "a\n\t  {% if true %}b{% endif %}\n  c {% if true %}d{% endif %}\n"),
    ("comment_trim", "a\n{# one #}\nb {# two #} c\n    {# three #}\nd"),
    ("raw_block", "{% raw %}{{ not evaluated }}{% if %}{% endraw %}\n{{ 'after' }}"),
    ("trailing_newline", "text\n"),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc"),
    ("backslash_newline_in_string", "{{ 'one \\\ntwo' }}|{% set m = \"a\\\nb\" %}{{ m }}"),
    ("printf_formatting", "{{ '%s-%d-%05.2f-%x-%r|%%' % ('a', 7.9, 3.14159, 255, 'q') }} {{ '%(a)s+%(b)s' % {'a': 1, 'b': 'two'} }} {{ '%s' % none }} {{ '%-4s|%4s' % ('ab', 'cd') }} {{ '%s and %s'|format('x', 'y') }} {{ '%(k)s'|format(k='kw') }}"),
    ("with_block", "{% set a = 1 %}{% with a = 2, b = a + 1 %}{{ a }}{{ b }}{% endwith %}{{ a }}{{ b }}|{% with %}{% set c = 3 %}{{ c }}{% endwith %}{{ c }}"),
    ("whitespace_mix", "{%- if true %}\n  x\n{%- endif %}\n\n  {{- 'y' }}  \n{%+ if true -%}\n z {% endif -%}  \n\t{# c #}  w"),
    # statements
    ("if_elif_else", "{% for v in [0, 1, 2, 3] %}{% if v == 0 %}zero{% elif v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %},{% endfor %}"),
    ("for_loop_variables", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('odd', 'even') }};{% endfor %}"),
    ("for_else_and_filter", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in xs if x > 5 %}{{ x }}{% else %}none{% endfor %}"),
    ("for_unpacking", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}{% for (a, b) in [['x', 'y']] %}{{ a ~ b }}{% endfor %}"),
    ("for_over_dict_and_string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héllo' %}{{ c }}.{% endfor %}|{% for x in undefined_name %}never{% endfor %}"),
    ("loop_controls", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }}{% if loop.last %}/{{ loop.length }}{% endif %} {% endfor %}{{ loop.index }}|{% endfor %}"),
    ("set_scoping", "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("set_tuple_and_block", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}|{% set block %}  inner {{ a }}\n{% endset %}[{{ block }}]|{% set up | upper %}shout{% endset %}{{ up }}"),
    ("namespace", "{% set ns = namespace(count=0, found=false, items=[]) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.items }} {{ ns.missing is defined }}"),
    ("macro", "{% macro greet(name, punct='!', times=1) %}{{ ('Hi ' ~ name ~ punct) * times }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', '?') }} {{ greet('Cy', times=2) }} {{ greet(name='Di', punct='.') }}"),
    ("macro_whitespace", "{% macro item(x) %}\n  <{{ x }}>\n{% endmacro %}\n{% for x in xs %}\n{{ item(x) }}\n{% endfor %}\n"),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %}|{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(v) each(xs) %}[{{ v }}]{% endcall %}"),
    ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}|{% filter trim | title %}   two words   {% endfilter %}"),
    ("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content[:5] }}{% endgeneration %}{% endif %}{% endfor %}"),
    # tests
    ("tests_types", "{{ n is number }}{{ f is number }}{{ t is number }}{{ n is integer }}{{ f is float }}{{ t is boolean }}{{ s is string }}{{ d is mapping }}{{ xs is sequence }}{{ s is sequence }}{{ d is sequence }}{{ n is sequence }}{{ xs is iterable }}{{ d is iterable }}{{ n is iterable }}{{ range is callable }}{{ s is callable }}"),
    ("tests_values", "{{ none is none }}{{ t is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 2 is in xs }}{{ n is eq 7 }}{{ n is equalto(7) }}{{ n is ne 7 }}{{ n is gt 3 }}{{ n is lt 3 }}{{ n is ge 7 }}{{ n is le 6 }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'aBc' is lower }}"),
    ("tests_defined", "{{ n is defined }}{{ nope is defined }}{{ nope is undefined }}{{ d.a is defined }}{{ d.zz is defined }}{{ d.c is none }}{{ d.zz is not defined }}{{ messages[0].tool_calls is defined }}{{ messages[2].tool_calls is defined }}{{ xs[10] is defined }}"),
    ("tests_negated_and_precedence", "{{ n is not none }}{{ not n is none }}{{ n is number and s is string }}{{ none is not none or 1 }}"),
    # filters
    ("filters_strings", "[{{ s|trim }}] [{{ s|upper }}] [{{ s|lower }}] [{{ s|title }}] [{{ 'hello wORLD'|capitalize }}] [{{ 'x-ray (test) [a] <b> o\\'neil'|title }}] [{{ s|replace('l', 'L') }}] [{{ s|replace('l', 'L', 2) }}] [{{ s|length }}] [{{ u|length }}] [{{ u|upper }}] [{{ 'xxhixx'|trim('x') }}]"),
    ("filter_tojson", "{{ tools|tojson }}\n{{ messages[2]|tojson }}\n{{ {'u': 'é\"\\\\\\n', 'f': 1.0, 'n': none, 'b': [true, false], 'e': {}, 'l': []}|tojson }}\n{{ 'x'|tojson }} {{ 3|tojson }} {{ none|tojson }}"),
    ("filter_tojson_indent", "{{ tools|tojson(indent=2) }}\n{{ {'a': [], 'b': {}, 'c': [1, [2]]}|tojson(indent=4) }}\n{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}\n{{ 'é'|tojson(ensure_ascii=true) }}\n{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}\n{{ {'a': [1]}|tojson(indent=1, separators=(';', '=')) }}"),
    ("filter_default", "{{ nope|default('d') }} {{ nope|d('short') }} {{ none|default('x') }} {{ ''|default('empty', true) }} {{ 0|default(5, boolean=true) }} {{ n|default(0) }} [{{ nope|default }}]"),
    ("filter_join_list_first_last", "{{ xs|join(', ') }} {{ words|join }} {{ people|join('/', attribute='name') }} {{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ 'abc'|last }} {{ 'ab'|list }} {{ d|list }} {{ range(3)|list }} [{{ []|first }}]"),
    ("filter_items_dictsort", "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ {'b': 2, 'A': 3, 'a': 1}|dictsort }} {{ {'b': 2, 'a': 1, 'c': 0}|dictsort(by='value') }}"),
    ("filter_numbers", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 3|float }} {{ 'x'|float }} {{ -3|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 2.7|round(method='floor') }} {{ 2.1|round(0, 'ceil') }} {{ 42|string ~ 'x' }} {{ xs|sum }} {{ people|sum(attribute='age') }} {{ xs|max }} {{ xs|min }} {{ words|max }} {{ people|max(attribute='age') }}"),
    ("filter_map_select", "{{ people|map(attribute='name')|list }} {{ words|map('upper')|join }} {{ xs|map('string')|join('-') }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ xs|select('gt', 1)|list }} {{ xs|select('in', [1, 3])|list }} {{ people|map(attribute='missing', default='?')|list }}"),
    ("filter_selectattr", "{{ people|selectattr('admin')|map(attribute='name')|list }} {{ people|rejectattr('admin')|map(attribute='name')|list }} {{ people|selectattr('age', 'gt', 30)|map(attribute='name')|join(',') }} {{ people|selectattr('admin', 'defined')|list|length }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|selectattr('role', '==', 'tool')|map(attribute='content')|first }}"),
    ("filter_sort_unique_reverse", "{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ people|sort(attribute='age')|map(attribute='name')|join }} {{ words|unique|list }} {{ words|unique(case_sensitive=true)|list }} {{ xs|reverse|list }} {{ 'abc'|reverse }} {{ [3, 1, 3, 2, 1]|unique|list }}"),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}]\n[{{ 'a\\nb\\n\\nc'|indent(2, true) }}]\n[{{ 'a\\nb\\n\\nc'|indent(2, blank=true) }}]\n[{{ 'x\\ny'|indent('> ', first=true) }}]"),
    ("filter_misc", "{{ '<a href=\"x\">&\\'</a>'|escape }} {{ 'safe <b>'|safe }} {{ 'one two  three, four'|wordcount }} [{{ 'mid'|center(9) }}] [{{ 'mid'|center(8) }}] {{ range(7)|batch(3)|list }} {{ range(5)|batch(2, 'x')|list }} {{ d|attr('a') }} {{ xs|count }} {{ (xs|length) + 1 }}"),
    # methods
    ("string_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'a b c'.split(None, 1) }}|{{ 'l1\\nl2\\r\\nl3'.splitlines() }}"),
    ("string_methods_2", "{{ s.startswith('  He') }}{{ s.endswith('d') }}{{ 'abc'.startswith(('x', 'a')) }}|{{ 'hello'.upper() }}{{ 'HeLLo'.lower() }}{{ \"they're bill's\".title() }}{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}{{ 'hello'.find('z') }}{{ 'hello'.count('l') }}|{{ '-'.join(['a', 'b']) }}|{{ '{} and {}'.format('x', 1) }}{{ '{1}{0}'.format('a', 'b') }}{{ '{name}!'.format(name='N') }}{{ '{{literal}}'.format() }}"),
    ("think_split", "{% set c = messages[2].content %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}"),
    ("dict_methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {% for k, v in d.items() %}{{ k }}{% endfor %}"),
    ("list_methods", "{% set l = [1, 2] %}{% set _ = l.append(3) %}{{ l }} {{ l.index(2) }} {{ l.count(1) }} {{ l.pop() }} {{ l }} {% set ns = namespace(acc=[]) %}{% for x in xs %}{% set _ = ns.acc.append(x * 2) %}{% endfor %}{{ ns.acc }}"),
    # globals
    ("range_dict_namespace", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}"),
    ("raise_in_branch_not_taken", "{% if false %}{{ raise_exception('never') }}{% endif %}ok"),
    # realistic snippets
    ("tool_call_snippet", "{% for m in messages %}{% if m.tool_calls %}{% for tc in m.tool_calls %}{% if tc.function %}{% set tc = tc.function %}{% endif %}<tool_call>{\"name\": \"{{ tc.name }}\", \"arguments\": {{ tc.arguments|tojson }}}</tool_call>{% endfor %}{% endif %}{% endfor %}"),
    ("reverse_scan_snippet", "{% set ns = namespace(last=messages|length - 1) %}{% for m in messages[::-1] %}{% set i = (messages|length - 1) - loop.index0 %}{% if m.role == 'user' and ns.last == messages|length - 1 %}{% set ns.last = i %}{% endif %}{% endfor %}{{ ns.last }}"),
]


def main():
    for name, source in CASES:
        case = {"name": name, "template": source, "variables": DATA}
        try:
            case["expected"] = env.from_string(source).render(**DATA)
        except Exception as e:  # noqa: BLE001 - recorded as the expected error
            case["error"] = f"{type(e).__name__}: {e}"
        sys.stdout.write(json.dumps(case, ensure_ascii=False) + "\n")


main()
