"""Bibliography labels that match the author-year citations of the text.

The text cites with ``bibtex_reference_style: author_year`` ("[Chen, 2023]", "Ho et al. [2020]"), but
pybtex's default label style ``alpha`` labels the bibliography entries "[Che23]", so a reader cannot match a
citation to its entry by eye. This extension registers a pybtex formatting style ``authoryear`` whose labels
are "Chen, 2023", "Nichol and Dhariwal, 2021", "Ho et al., 2020" (the names the author-year citations print,
with "a", "b", ... appended when two entries would share a label), sorted by author, year and title.
``_config.yml`` selects it with ``bibtex_default_style: authoryear``. The citations in the text print the same
year as the label ("Song et al. [2021a]", "[Song et al., 2021b]"), so that two papers with one author-year
name stay apart: the author-year reference style's ``year`` node is replaced by :func:`year_of_label`.

Recipe: sphinxcontrib-bibtex documentation, "Custom formatting, sorting, and labelling" (a pybtex label and
formatting style registered as plugins).
"""

from __future__ import annotations

import pybtex.plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import field, first_of, node, optional
from sphinxcontrib.bibtex.style.referencing import basic_author_year, extra_year


def _last_names(entry) -> list[str]:
    from pybtex.richtext import Text

    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = []
    for person in persons:
        parts = person.prelast_names + person.last_names
        # render LaTeX (braces, accents) the way the citations do
        names.append(" ".join(Text.from_latex(part).render_as("text") for part in parts))
    return names


def author_year_label(entry) -> str:
    """"Chen, 2023" / "Nichol and Dhariwal, 2021" / "Ho et al., 2020" for one pybtex entry."""
    last = _last_names(entry)
    if not last:
        authors = entry.fields.get("organization") or entry.key
    elif "others" in last or len(last) > 2:
        authors = f"{last[0]} et al."
    elif len(last) == 2:
        authors = f"{last[0]} and {last[1]}"
    else:
        authors = last[0]
    return f"{authors}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(entry) for entry in entries]
        counts = {label: labels.count(label) for label in labels}
        seen: dict[str, int] = {}
        for label in labels:
            if counts[label] > 1:
                seen[label] = seen.get(label, 0) + 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


pybtex.plugin.register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
pybtex.plugin.register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


@node
def year_of_label(children, data):
    """The year of a citation as its bibliography label prints it: "2021a" where two entries share a label."""
    assert not children
    label = getattr(data.get("formatted_entry"), "label", None) or ""
    labelled = label.rpartition(", ")[2]
    year = data["entry"].fields.get("year")
    if year and labelled.startswith(year):
        return Text(labelled)
    return first_of[optional[field("year")], "n.d."].format_data(data)


# the author-year citation templates look `year` up in their modules when a citation is formatted
basic_author_year.year = year_of_label
extra_year.year = year_of_label


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
