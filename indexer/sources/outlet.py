"""The outlet of an article that names none, taken from its URL.

Stories list outlets, timelines split by them and `max_per_source` caps them: an article without a source
would count as no outlet at all, though its URL says where it was published. The outlet is the URL's
registered domain, the part a publisher buys ("news.bbc.co.uk" -> "bbc.co.uk"), which needs the public
suffix list to tell "co.uk" (a suffix) from "bbc.co.uk" (a domain). The list is the snapshot bundled with
the `tld` package (already installed for trafilatura), read from disk; nothing is fetched. Its private
section counts too: "someblog.blogspot.com" is one blog, not all of Blogspot.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tld import get_fld


def outlet_from_url(url: str) -> str:
    """The registered domain of `url`'s host, lower-cased ("https://www.etonline.com/x" -> "etonline.com");
    '' when `url` is not an absolute URL or its host has no registered domain (an IP address, "localhost",
    an unknown suffix): such a host names a machine, not an outlet.

    Callers mark an outlet found this way as derived (`metadata["source_derived"]`): it names the website,
    which is not always the publisher's own name for itself.
    """
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:  # an unbalanced "[" in the host part
        return ""
    host = host.rstrip(".")
    return (get_fld(host, fix_protocol=True, fail_silently=True) or "") if host else ""
