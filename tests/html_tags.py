"""Reading rendered pages in tests: every start tag with its attributes, the text of each <script>
and <label>, and the tags inside <head>."""

from __future__ import annotations

from html.parser import HTMLParser


class Tags(HTMLParser):
    """Start tags with attributes, the text of each <script> and <label>, and the <head>'s tags;
    find(tag, **attrs) lists the attributes of the matching tags."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.head: list[tuple[str, dict]] = []
        self.labels: list[tuple[dict, str]] = []
        self._in_script = False
        self._in_label = False
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "head":
            self._in_head = True
        elif self._in_head:
            self.head.append((tag, attrs))
        if tag == "script":
            self._in_script = True
            self.scripts.append((attrs, ""))
        if tag == "label":
            self._in_label = True
            self.labels.append((attrs, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag == "label":
            self._in_label = False
        if tag == "head":
            self._in_head = False

    def handle_data(self, data):
        if self._in_script:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        if self._in_label:
            attrs, text = self.labels[-1]
            self.labels[-1] = (attrs, text + data)

    def find(self, tag: str, **want) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in want.items())]

