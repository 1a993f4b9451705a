"""Render a World's platforms to bytes: each platform its own markup, language and encoding.

Everything is rendered once, up front (``render_site``), so the server only
looks pages up; that keeps it fast enough to be the benchmark target. Pages
use root-relative links, so the same bytes serve on any port.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit

from crawler.demo.content import LEXICONS
from crawler.demo.world import Advert, Contact, Platform, PlatformSpec

AGE_COOKIE = "age_ok"
"""th_board's age gate: detail pages and the contact API need ``age_ok=1``."""

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Page:
    """One response body; ``gate`` is served instead while the age cookie is missing."""

    body: bytes
    content_type: str
    status: int = 200
    gate: Page | None = None


def page_key(target: str) -> str:
    """Lookup key of a request target: path plus query with parameters sorted."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return parts.path + ("?" + urlencode(query) if query else "")


def robots_txt(spec: PlatformSpec) -> str:
    lines = [f"# robots.txt of the fixture platform {spec.name}", "User-agent: *"]
    lines += [f"Disallow: {p}" for p in spec.disallowed_paths]
    if spec.crawl_delay is not None:
        lines.append(f"Crawl-delay: {spec.crawl_delay}")
    return "\n".join(lines) + "\n"


def render_site(platform: Platform) -> dict[str, Page]:
    """Every page, image and API answer of one platform, keyed by ``page_key``."""
    spec = platform.spec
    renderer = _RENDERERS[spec.name]
    site: dict[str, Page] = {
        "/robots.txt": Page(robots_txt(spec).encode(), "text/plain; charset=utf-8"),
    }
    ctype = f"text/html; charset={'Shift_JIS' if spec.encoding == 'shift_jis' else 'utf-8'}"

    def html(text: str, status: int = 200) -> Page:
        return Page(_encode(text, spec.encoding), ctype, status)

    for n in range(1, platform.pages + 1):
        page = html(renderer.listing(platform, n))
        site[page_key(spec.listing_path(n))] = page
        if n == 1:  # "?page=1" is the same page, as on most real sites
            site[page_key(spec.listing_page.format(page=1))] = page
    for ad in platform.ads:
        site[page_key(ad.path)] = html(renderer.detail(platform, ad))
        for im in ad.images:
            site[page_key(im.path)] = Page(im.picture.data, im.picture.content_type)
    for trap in platform.traps:
        site[page_key(trap)] = html(_stub(spec, "members only"))
    for path in ("/admin/", "/search"):
        site[path] = html(_stub(spec, "not for robots"))
    site.update(renderer.extra(platform, html))
    return site


def _encode(text: str, encoding: str) -> bytes:
    data = text.encode(encoding)
    if encoding == "shift_jis" and data.decode("cp932") != text:
        # w3lib decodes Shift_JIS as cp932; the two differ on a few symbols
        raise ValueError("text does not round-trip through Shift_JIS/cp932")
    return data


def _stub(spec: PlatformSpec, what: str) -> str:
    charset = "Shift_JIS" if spec.encoding == "shift_jis" else "utf-8"
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{what}</title></head>'
        f"<body><p>{what}</p></body></html>"
    )


def _e(text: object) -> str:
    """Escape text content (attribute values use ``_a``)."""
    return escape(str(text), quote=False)


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def _lines(text: str, tag: str | None = None, sep: str = "<br>\n") -> str:
    if tag:
        return "\n".join(f"<{tag}>{_e(line)}</{tag}>" for line in text.split("\n"))
    return sep.join(_e(line) for line in text.split("\n"))


def _contact_html(c: Contact) -> str:
    if c.href and c.anchor:
        return f'<a href="{_a(c.href)}">{_e(c.anchor)}</a>'
    if c.href:
        return f'{_e(c.cue)}: <a href="{_a(c.href)}">{_e(c.shown)}</a>'
    return f"{_e(c.cue)}: {_e(c.shown)}"


def _contact_items(ad: Advert) -> list[str]:
    return [
        _contact_html(c) for c in ad.contacts if c.field == "contacts" and not c.requires_browser
    ]


def _imgs(ad: Advert, alt: str) -> str:
    return "".join(f'<img src="{_a(im.path)}" alt="{_a(alt)}">' for im in ad.images)


def _pager(
    spec: PlatformSpec,
    platform: Platform,
    n: int,
    prev_cls: str,
    next_cls: str,
    prev_text: str,
    next_text: str,
) -> str:
    out = []
    if n > 1:
        out.append(f'<a class="{prev_cls}" href="{_a(spec.listing_path(n - 1))}">{prev_text}</a>')
    if n < platform.pages:
        out.append(f'<a class="{next_cls}" href="{_a(spec.listing_path(n + 1))}">{next_text}</a>')
    return " ".join(out)


def _page_ads(platform: Platform, n: int) -> list[Advert | str]:
    """Adverts of listing page ``n`` with the page's robots-disallowed trap link in the middle."""
    size = platform.spec.page_size
    ads: list[Advert | str] = list(platform.ads[(n - 1) * size : n * size])
    ads.insert(len(ads) // 2, platform.traps[n - 1])
    return ads


class _KzBoard:
    """Russian-language classifieds: plain lists, <p> paragraphs, gzip on request."""

    def listing(self, p: Platform, n: int) -> str:
        items = []
        for ad in _page_ads(p, n):
            if isinstance(ad, str):
                items.append(
                    f'<li class="ad ad-vip"><a class="ad-title" href="{_a(ad)}">'
                    "VIP-объявление (только для участников)</a></li>"
                )
                continue
            thumb = f'<img class="thumb" src="{_a(ad.images[0].path)}" alt="">' if ad.images else ""
            items.append(
                f'<li class="ad">{thumb}<a class="ad-title" href="{_a(ad.path)}">{_e(ad.title)}</a> '
                f'<span class="price">{_e(ad.price)}</span> <span class="city">{_e(ad.city)}</span></li>'
            )
        pager = _pager(p.spec, p, n, "prev", "next", "← Назад", "Дальше →")
        return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Доска объявлений — страница {n}</title></head>
<body>
<header class="top"><a href="/ads/">Все объявления</a> | <a href="/search?q=модель">Поиск</a> | <a href="/admin/">Модераторам</a></header>
<main><h1>Услуги: объявления, страница {n}</h1>
<ul class="ads">
{chr(10).join(items)}
</ul>
<div class="pager">{pager}</div>
</main></body></html>
"""

    def detail(self, p: Platform, ad: Advert) -> str:
        lex = LEXICONS["ru"]
        contacts = "\n".join(f"<p>{c}</p>" for c in _contact_items(ad))
        return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>{_e(ad.title)}</title></head>
<body>
<header class="top"><a href="/ads/">Все объявления</a> | <a href="/search?q=">Поиск</a></header>
<article class="ad-card" id="ad-{_a(ad.external_id)}">
<h1 class="title">{_e(ad.title)}</h1>
<div class="meta"><time datetime="{ad.posted.isoformat()}">{ad.posted.strftime("%d.%m.%Y")}</time> · {lex.cues["views"]}: {ad.views}</div>
<div class="gallery">{_imgs(ad, "фото")}</div>
<ul class="params">
<li class="name">Имя: <span class="name">{_e(ad.name)}</span></li>
<li class="age">Возраст: {ad.age}</li>
<li class="city">Город: <span>{_e(ad.city)}</span></li>
<li class="height">Рост: {ad.height} см</li>
<li class="price">Цена: <span>{_e(ad.price)}</span></li>
</ul>
<div class="description">
{_lines(ad.body, "p")}
</div>
<div class="contacts">
{contacts}
<p class="ref">{lex.cues["ref"]} {ad.ref} — назовите его при звонке</p>
</div>
</article>
</body></html>
"""

    def extra(self, p: Platform, html) -> dict[str, Page]:
        return {}


class _JpDating:
    """Shift_JIS dating board: table layout, <br> line breaks, Crawl-delay 1."""

    def listing(self, p: Platform, n: int) -> str:
        rows = []
        for ad in _page_ads(p, n):
            if isinstance(ad, str):
                rows.append(
                    f'<tr><td class="subj"><a class="ad-link" href="{_a(ad)}">会員限定の投稿</a></td><td>-</td><td>-</td></tr>'
                )
                continue
            rows.append(
                f'<tr><td class="subj"><a class="ad-link" href="{_a(ad.path)}">{_e(ad.title)}</a></td>'
                f"<td>{_e(ad.city)}</td><td>{ad.posted.strftime('%Y/%m/%d')}</td></tr>"
            )
        pager = _pager(p.spec, p, n, "prev", "next", "前へ", "次へ")
        return f"""<html><head><meta charset="Shift_JIS"><title>出会い掲示板 {n}ページ目</title></head>
<body bgcolor="#fff0f5">
<div class="nav"><a href="/board/">掲示板トップ</a> | <a href="/search?word=">検索</a> | <a href="/admin/">管理人</a></div>
<table class="list" border="1">
<tr><th>タイトル</th><th>地域</th><th>日付</th></tr>
{chr(10).join(rows)}
</table>
<p class="pager">{pager}</p>
</body></html>
"""

    def detail(self, p: Platform, ad: Advert) -> str:
        lex = LEXICONS["ja"]
        contacts = "<br>\n".join(_contact_items(ad))
        return f"""<html><head><meta charset="Shift_JIS"><title>{_e(ad.title)}</title></head>
<body bgcolor="#fff0f5">
<div class="nav"><a href="/board/">掲示板トップ</a></div>
<div id="prof">
<h2 class="subject">{_e(ad.title)}</h2>
<table class="prof" border="1">
<tr><th>名前</th><td class="name">{_e(ad.name)}</td></tr>
<tr><th>年齢</th><td class="age">{ad.age}歳</td></tr>
<tr><th>地域</th><td class="area">{_e(ad.city)}</td></tr>
<tr><th>身長</th><td class="height">{ad.height}cm</td></tr>
<tr><th>予算</th><td class="price">{_e(ad.price)}</td></tr>
<tr><th>投稿日</th><td class="date">{ad.posted.strftime("%Y/%m/%d")}</td></tr>
</table>
<div class="photos">{_imgs(ad, "写真")}</div>
<div class="msg">{_lines(ad.body)}</div>
<div class="contact">{contacts}<br>
{lex.cues["ref"]}：{ad.ref}</div>
<div class="foot">{lex.cues["views"]} {ad.views}</div>
</div>
</body></html>
"""

    def extra(self, p: Platform, html) -> dict[str, Page]:
        return {}


class _UkDirectory:
    """English directory: card grid, BEM classes, poster accounts, chunked responses."""

    def listing(self, p: Platform, n: int) -> str:
        cards = []
        for ad in _page_ads(p, n):
            if isinstance(ad, str):
                cards.append(
                    f'<article class="card card--hidden"><a class="card__link" href="{_a(ad)}">'
                    '<h2 class="card__title">Members-only profile</h2></a></article>'
                )
                continue
            thumb = f'<img src="{_a(ad.images[0].path)}" alt="">' if ad.images else ""
            cards.append(
                f'<article class="card"><a class="card__link" href="{_a(ad.path)}">{thumb}'
                f'<h2 class="card__title">{_e(ad.title)}</h2></a>'
                f'<p class="card__meta">{_e(ad.city)} · {_e(ad.price)}</p>'
                f'<p class="card__by">Listed by <a href="/account/{_a(ad.poster_account)}/">'
                f"{_e(ad.poster_account)}</a></p></article>"
            )
        pager = _pager(p.spec, p, n, "pagination__prev", "pagination__next", "Previous", "Next")
        rel_next = (
            f'<link rel="next" href="{_a(p.spec.listing_path(n + 1))}">' if n < p.pages else ""
        )
        return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Directory — page {n}</title>{rel_next}</head>
<body>
<nav class="site-nav"><a href="/directory/">Directory</a> <a href="/search?q=">Search</a> <a href="/admin/">Admin</a></nav>
<main class="grid">
{chr(10).join(cards)}
</main>
<nav class="pagination">{pager}</nav>
</body></html>
"""

    def detail(self, p: Platform, ad: Advert) -> str:
        items = "\n".join(f"<li>{c}</li>" for c in _contact_items(ad))
        account = ad.poster_account or ""
        return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{_e(ad.title)} | Directory</title></head>
<body>
<nav class="site-nav"><a href="/directory/">Directory</a></nav>
<main><article class="profile" data-profile-id="{_a(ad.external_id)}">
<h1 class="profile__title">{_e(ad.title)}</h1>
<p class="listed-by">Listed by <a class="poster" href="/account/{_a(account)}/">{_e(account)}</a></p>
<dl class="facts">
<dt>Name</dt><dd class="fact-name">{_e(ad.name)}</dd>
<dt>Age</dt><dd class="fact-age">{ad.age}</dd>
<dt>Location</dt><dd class="fact-location">{_e(ad.city)}</dd>
<dt>Height</dt><dd class="fact-height">{ad.height} cm</dd>
<dt>Rate</dt><dd class="fact-rate">{_e(ad.price)}</dd>
</dl>
<section class="about"><h2>About me</h2>
<div class="bio">
{_lines(ad.body, "p")}
</div></section>
<section class="gallery">{"".join(f'<figure><img src="{_a(im.path)}" alt="photo"></figure>' for im in ad.images)}</section>
<section class="get-in-touch"><h2>Get in touch</h2>
<ul class="contact-list">
{items}
<li class="ref">Please quote ref GB-{ad.ref}</li>
</ul></section>
<footer class="profile__footer">Posted <time datetime="{ad.posted.isoformat()}">{ad.posted.strftime("%d %B %Y")}</time> · {ad.views} views</footer>
</article></main>
</body></html>
"""

    def extra(self, p: Platform, html) -> dict[str, Page]:
        accounts = sorted({ad.poster_account for ad in p.ads if ad.poster_account})
        return {f"/account/{a}/": html(_stub(p.spec, f"account {a}")) for a in accounts}


class _KrBoard:
    """Korean bulletin board: query-string URLs, table list, board-style ids."""

    def listing(self, p: Platform, n: int) -> str:
        rows = []
        for ad in _page_ads(p, n):
            if isinstance(ad, str):
                rows.append(
                    f'<tr class="bo_notice"><td class="td_num">공지</td><td class="td_subject"><a href="{_a(ad)}">회원 전용 게시글</a></td>'
                    '<td class="td_name">-</td><td class="td_date">-</td><td class="td_hit">-</td></tr>'
                )
                continue
            rows.append(
                f'<tr><td class="td_num">{_e(ad.external_id)}</td>'
                f'<td class="td_subject"><a href="{_a(ad.path)}">{_e(ad.title)}</a></td>'
                f'<td class="td_name">{_e(ad.name)}</td><td class="td_date">{ad.posted.strftime("%m-%d")}</td>'
                f'<td class="td_hit">{ad.views}</td></tr>'
            )
        pager = _pager(p.spec, p, n, "pg_prev", "pg_next", "이전", "다음")
        return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>자유게시판 {n} 페이지</title></head>
<body>
<div id="hd"><a href="/bbs/board.php?bo_table=free">자유게시판</a> <a href="/search?stx=">검색</a> <a href="/bbs/login.php">로그인</a> <a href="/admin/">관리자</a></div>
<table class="board_list">
<thead><tr><th>번호</th><th>제목</th><th>글쓴이</th><th>날짜</th><th>조회</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<nav class="pg_wrap">{pager}</nav>
</body></html>
"""

    def detail(self, p: Platform, ad: Advert) -> str:
        lex = LEXICONS["ko"]
        contacts = "\n".join(f"<p>{c}</p>" for c in _contact_items(ad))
        return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>{_e(ad.title)} &gt; 자유게시판</title></head>
<body>
<article id="bo_v">
<header><h2 id="bo_v_title"><span class="bo_v_tit">{_e(ad.title)}</span></h2></header>
<section id="bo_v_info"><span class="sv_member">{_e(ad.name)}</span>
<span class="if_date">작성일 <span class="date">{ad.posted.strftime("%Y.%m.%d")}</span></span>
<span class="if_hit">{lex.cues["views"]} {ad.views}</span>
<span class="if_no">{lex.cues["ref"]} {ad.ref}</span></section>
<ul class="bo_v_extra">
<li class="age">나이: {ad.age}세</li>
<li class="loc">지역: <b>{_e(ad.city)}</b></li>
<li class="height">키: {ad.height}cm</li>
<li class="pay">페이: <b>{_e(ad.price)}</b></li>
</ul>
<div id="bo_v_img">{_imgs(ad, "사진")}</div>
<div id="bo_v_con">
{_lines(ad.body, "p")}
</div>
<div class="bo_v_contact">
{contacts}
</div>
</article>
</body></html>
"""

    def extra(self, p: Platform, html) -> dict[str, Page]:
        return {"/bbs/login.php": html(_stub(p.spec, "login"))}


_TH_LISTING_JS = """(function () {
  var page = parseInt(new URLSearchParams(location.search).get("page") || "1", 10);
  fetch("/api/listing?page=" + page).then(function (r) { return r.json(); }).then(function (data) {
    var ul = document.getElementById("listing");
    ul.innerHTML = "";
    data.ads.forEach(function (ad) {
      var li = document.createElement("li");
      li.className = "ad";
      if (ad.thumb) { var img = document.createElement("img"); img.src = ad.thumb; li.appendChild(img); }
      var a = document.createElement("a");
      a.className = "ad-title"; a.href = ad.url; a.textContent = ad.title;
      li.appendChild(a);
      var meta = document.createElement("span");
      meta.className = "meta"; meta.textContent = ad.city + " · " + ad.price;
      li.appendChild(meta);
      ul.appendChild(li);
    });
    var pager = document.getElementById("pager");
    if (data.next_page) {
      var n = document.createElement("a");
      n.className = "next"; n.href = "/?page=" + data.next_page; n.textContent = "ถัดไป";
      pager.appendChild(n);
    }
  });
})();
"""

_TH_DETAIL_JS = """(function () {
  var button = document.querySelector("button.show-number");
  if (!button) { return; }
  button.addEventListener("click", function () {
    fetch("/api/ad/" + button.dataset.id + "/contact", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        document.querySelector("span.phone").textContent = data.phone;
        button.remove();
      });
  });
})();
"""

_TH_GATE = """<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>ยืนยันอายุ</title></head>
<body>
<div class="age-gate"><p>เว็บไซต์นี้สำหรับผู้ที่มีอายุ 20 ปีขึ้นไป</p>
<button id="age-yes">ฉันอายุ 20 ปีขึ้นไป เข้าสู่เว็บไซต์</button> <a href="/">ออก</a></div>
<script>
document.getElementById("age-yes").addEventListener("click", function () {
  document.cookie = "age_ok=1; path=/; max-age=86400";
  location.reload();
});
</script>
</body></html>
"""


class _ThBoard:
    """Thai board: listing rendered by JS from JSON, age gate, phone behind a button."""

    def listing(self, p: Platform, n: int) -> str:
        return f"""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>ประกาศงานอีเวนต์ หน้า {n}</title>
<script src="/static/listing.js" defer></script></head>
<body>
<header><a href="/">หน้าแรก</a> <a href="/search">ค้นหา</a> <a href="/admin/">ผู้ดูแล</a></header>
<main><ul id="listing" class="ads"><li class="loading">กำลังโหลด...</li></ul><nav id="pager"></nav></main>
<noscript>กรุณาเปิด JavaScript</noscript>
</body></html>
"""

    def detail(self, p: Platform, ad: Advert) -> str:
        lex = LEXICONS["th"]
        contacts = "\n".join(f"<p>{c}</p>" for c in _contact_items(ad))
        hidden = next((c for c in ad.contacts if c.requires_browser), None)
        button = ""
        if hidden:
            button = (
                f'<p class="phone-line">{_e(hidden.cue)}: <span class="phone"></span> '
                f'<button class="show-number" data-id="{_a(ad.external_id)}">{lex.cues["button"]}</button></p>'
            )
        return f"""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>{_e(ad.title)}</title></head>
<body>
<div class="post" data-id="{_a(ad.external_id)}">
<h1 class="post-title">{_e(ad.title)}</h1>
<div class="info"><span class="name">{_e(ad.name)}</span> · <span class="age">อายุ {ad.age}</span> · <span class="height">สูง {ad.height} ซม.</span> · <span class="city">{_e(ad.city)}</span> · <span class="price">{_e(ad.price)}</span> · <time datetime="{ad.posted.isoformat()}">{ad.posted.strftime("%d/%m/%Y")}</time> · {lex.cues["views"]} {ad.views} · {lex.cues["ref"]} {ad.ref}</div>
<div class="photos">{_imgs(ad, "รูป")}</div>
<div class="post-body">
{_lines(ad.body, "p")}
</div>
<div class="contacts">
{contacts}
{button}
</div>
</div>
<script src="/static/detail.js"></script>
</body></html>
"""

    def extra(self, p: Platform, html) -> dict[str, Page]:
        out: dict[str, Page] = {
            "/static/listing.js": Page(_TH_LISTING_JS.encode(), "text/javascript; charset=utf-8"),
            "/static/detail.js": Page(_TH_DETAIL_JS.encode(), "text/javascript; charset=utf-8"),
        }
        gate = html(_TH_GATE)
        for ad in p.ads:
            key = page_key(ad.path)
            out[key] = Page(_render_detail_bytes(self, p, ad), HTML, gate=gate)
            hidden = next((c for c in ad.contacts if c.requires_browser), None)
            if hidden:
                answer = json.dumps(
                    {"id": ad.external_id, "phone": hidden.shown}, ensure_ascii=False
                )
                refused = Page(b'{"error": "age confirmation required"}', JSON, status=403)
                out[f"/api/ad/{ad.external_id}/contact"] = Page(answer.encode(), JSON, gate=refused)
        for n in range(1, p.pages + 1):
            ads = []
            for ad in _page_ads(p, n):
                if isinstance(ad, str):
                    ads.append(
                        {
                            "id": ad.rsplit("/", 1)[-1],
                            "title": "ประกาศสำหรับสมาชิก VIP",
                            "url": ad,
                            "city": "",
                            "price": "",
                            "thumb": None,
                        }
                    )
                    continue
                ads.append(
                    {
                        "id": ad.external_id,
                        "title": ad.title,
                        "url": ad.path,
                        "city": ad.city,
                        "price": ad.price,
                        "thumb": ad.images[0].path if ad.images else None,
                    }
                )
            doc = {
                "page": n,
                "pages": p.pages,
                "ads": ads,
                "next_page": n + 1 if n < p.pages else None,
            }
            out[page_key(f"/api/listing?page={n}")] = Page(
                json.dumps(doc, ensure_ascii=False).encode(), JSON
            )
        return out


def _render_detail_bytes(r: _ThBoard, p: Platform, ad: Advert) -> bytes:
    return r.detail(p, ad).encode()


_RENDERERS = {
    "kz_board": _KzBoard(),
    "jp_dating": _JpDating(),
    "uk_directory": _UkDirectory(),
    "kr_board": _KrBoard(),
    "th_board": _ThBoard(),
}
