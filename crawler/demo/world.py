"""The fixture web's world: invented platforms, adverts, networks — seeded and deterministic.

``build_world(seed, ads_per_platform)`` returns the same ``World`` for the same
arguments: same adverts, same contact forms, same image bytes. The server
renders it (``render.py``); ``World.truth(base_urls)`` is the answer key that
tests and benchmarks score the crawler against (``truth.json``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import phonenumbers

from crawler.demo import content, generated_pictures
from crawler.demo.content import LEXICONS

TRUTH_SCHEMA = "adarchive-fixture-truth/1"
DEFAULT_PORT = 8700
COMMON_DISALLOWED = ("/admin/", "/search")
NEWEST_POST = date(2026, 10, 20)
# Issue 7: the SSRF guard refuses loopback unless allowed; the fixture web's
# platforms (127.0.0.(10+i), the hostile one included) are in this range and
# 127.0.0.1 is not, so it stays the "internal" target tests must never reach.
FIXTURE_ALLOWED_ADDRESSES = "127.0.0.10-127.0.0.99"


@dataclass(frozen=True)
class PlatformSpec:
    """The fixed shape of one demo platform: where it lives and how its URLs look."""

    name: str
    index: int
    """Platform *i* is served on ``127.0.0.(10+i)``."""
    country: str
    language: str
    lang: str
    """Key into ``content.LEXICONS``."""
    encoding: str
    render: str
    page_size: int
    listing_first: str
    listing_page: str
    detail: str
    image: str
    trap: str
    extra_disallowed: tuple[str, ...]
    crawl_delay: float | None = None
    posted_format: str = "%Y-%m-%d"
    """How the definition's ``posted`` selector sees the date."""
    messenger: str = "telegram"
    images_per_ad: tuple[int, int] = (1, 3)

    @property
    def host(self) -> str:
        return f"127.0.0.{10 + self.index}"

    @property
    def disallowed_paths(self) -> list[str]:
        return [*COMMON_DISALLOWED, *self.extra_disallowed]

    def listing_path(self, page: int) -> str:
        return self.listing_first if page == 1 else self.listing_page.format(page=page)


SPECS: tuple[PlatformSpec, ...] = (
    PlatformSpec(
        name="kz_board",
        index=1,
        country="KZ",
        language="ru",
        lang="ru",
        encoding="utf-8",
        render="static",
        page_size=10,
        listing_first="/ads/",
        listing_page="/ads/?page={page}",
        detail="/ad/{id}.html",
        image="/img/{id}_{n}.{ext}",
        trap="/private/ad/{id}.html",
        extra_disallowed=("/private/", "/user/"),
        messenger="telegram",
    ),
    PlatformSpec(
        name="jp_dating",
        index=2,
        country="JP",
        language="ja",
        lang="ja",
        encoding="shift_jis",
        render="static",
        page_size=3,
        listing_first="/board/",
        listing_page="/board/?p={page}",
        detail="/profile?no={id}",
        image="/photo/{id}-{n}.{ext}",
        trap="/members/profile?no={id}",
        extra_disallowed=("/members/",),
        crawl_delay=1,
        messenger="line",
        images_per_ad=(1, 1),
        posted_format="%Y/%m/%d",
    ),
    PlatformSpec(
        name="uk_directory",
        index=3,
        country="GB",
        language="en",
        lang="en",
        encoding="utf-8",
        render="static",
        page_size=12,
        listing_first="/directory/",
        listing_page="/directory/page/{page}/",
        detail="/profile/{slug}-{id}/",
        image="/media/profiles/{id}/{n}.{ext}",
        trap="/hidden/profile/{slug}-{id}/",
        extra_disallowed=("/hidden/", "/account/"),
        messenger="telegram",
    ),
    PlatformSpec(
        name="kr_board",
        index=4,
        country="KR",
        language="ko",
        lang="ko",
        encoding="utf-8",
        render="static",
        page_size=10,
        listing_first="/bbs/board.php?bo_table=free",
        listing_page="/bbs/board.php?bo_table=free&page={page}",
        detail="/bbs/board.php?bo_table=free&wr_id={id}",
        image="/data/file/free/{id}_{n}.{ext}",
        trap="/bbs/board.php?bo_table=secret&wr_id={id}",
        extra_disallowed=("/bbs/board.php?bo_table=secret", "/bbs/login.php"),
        messenger="kakao",
        posted_format="%Y.%m.%d",
    ),
    PlatformSpec(
        name="th_board",
        index=5,
        country="TH",
        language="th",
        lang="th",
        encoding="utf-8",
        render="browser",
        page_size=10,
        listing_first="/",
        listing_page="/?page={page}",
        detail="/ad/{id}",
        image="/static/img/{id}/{n}.{ext}",
        trap="/vip/ad/{id}",
        extra_disallowed=("/vip/",),
        messenger="line",
    ),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}

# national display forms: (prefix, group lengths) applied to the national significant number
_NATIONAL_SHAPE = {
    "KZ": ("8 ", (3, 3, 2, 2), " "),
    "JP": ("0", (2, 4, 4), "-"),
    "GB": ("0", (4, 6), " "),
    "KR": ("0", (2, 4, 4), "-"),
    "TH": ("0", (2, 3, 4), "-"),
}
_MOBILE_PREFIXES = {
    "KZ": ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"),
    "JP": ("90", "80", "70"),
    "GB": ("74", "75", "77", "78", "79"),
    "KR": ("10",),
    "TH": ("6", "8", "9"),
}
_NSN_LENGTH = {"KZ": 10, "JP": 10, "GB": 10, "KR": 10, "TH": 9}


@dataclass(frozen=True)
class Phone:
    """A generated mobile number, valid for its region."""

    region: str
    nsn: str

    @property
    def e164(self) -> str:
        return f"+{phonenumbers.country_code_for_region(self.region)}{self.nsn}"

    @property
    def national(self) -> str:
        prefix, groups, sep = _NATIONAL_SHAPE[self.region]
        parts, pos = [], 0
        for g in groups:
            parts.append(self.nsn[pos : pos + g])
            pos += g
        return prefix + sep.join(parts)

    @property
    def international(self) -> str:
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )


@dataclass
class Contact:
    """One planted identifier occurrence: what it is, where, and how it is written."""

    kind: str
    value: str
    field: str
    obfuscation: str
    shown: str
    """The text as it appears (for links: the link target)."""
    cue: str = ""
    href: str | None = None
    anchor: str | None = None
    """Link text when the identifier is only in the link target."""
    requires_browser: bool = False
    channel: str | None = None


@dataclass
class AdImage:
    path: str
    picture: generated_pictures.Picture
    variant_of: str | None = None


@dataclass
class Advert:
    """One advert on one platform, with everything its pages show."""

    platform: str
    external_id: str
    path: str
    title: str
    body: str
    name: str
    age: int
    city: str
    price: str
    posted: date
    height: int
    views: int
    ref: str
    poster_account: str | None
    network: str | None
    template_id: str | None
    images: list[AdImage] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.external_id}"


@dataclass
class Network:
    """Adverts run by one (invented) operator under different names."""

    id: str
    home: str
    agency: str
    phone: Phone
    messenger: tuple[str, str]
    email: str | None
    template_seed: str
    """Picks the template sentences, the same ones in every language's version."""
    image_seeds: list[str]
    kakao_code: str
    """The operator's KakaoTalk open-chat link code, when a member writes the link."""
    ads: list[str] = field(default_factory=list)
    identifiers: list[list[str]] = field(default_factory=list)
    """The shared ``[kind, value]`` pairs that at least one member advert shows."""

    def shared(self) -> list[tuple[str, str]]:
        """Every identifier this operator may show, in a stable order."""
        ids = [("phone", self.phone.e164), self.messenger]
        if self.messenger[0] == "kakao":
            ids.append(("kakao", f"open.kakao.com/o/{self.kakao_code}"))
        if self.email:
            ids.append(("email", self.email))
        return ids


@dataclass
class Platform:
    spec: PlatformSpec
    ads: list[Advert]
    traps: list[str]
    """Robots-disallowed detail paths linked from listing pages (one per page)."""

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.ads) // self.spec.page_size))


@dataclass
class World:
    """Everything the fixture web serves, plus the answer key."""

    seed: int
    ads_per_platform: int
    platforms: list[Platform]
    networks: list[Network]

    def platform(self, name: str) -> Platform:
        return next(p for p in self.platforms if p.spec.name == name)

    def truth(self, base_urls: Mapping[str, str] | None = None) -> dict:
        """The ``adarchive-fixture-truth/1`` document for this world served at ``base_urls``."""
        bases = {
            p.spec.name: (base_urls or {}).get(p.spec.name, f"http://{p.spec.host}:{DEFAULT_PORT}")
            for p in self.platforms
        }
        return {
            "schema": TRUTH_SCHEMA,
            "seed": self.seed,
            "ads_per_platform": self.ads_per_platform,
            "platforms": [
                {
                    "name": p.spec.name,
                    "base_url": bases[p.spec.name],
                    "start_url": bases[p.spec.name] + p.spec.listing_first,
                    "country": p.spec.country,
                    "language": p.spec.language,
                    "encoding": p.spec.encoding,
                    "render": p.spec.render,
                    "disallowed_paths": p.spec.disallowed_paths,
                    "crawl_delay": p.spec.crawl_delay,
                    "ads": len(p.ads),
                    "listing_pages": p.pages,
                }
                for p in self.platforms
            ],
            "networks": [
                {"id": n.id, "identifiers": n.identifiers, "ads": list(n.ads)}
                for n in self.networks
            ],
            "ads": [_ad_truth(ad, bases[p.spec.name]) for p in self.platforms for ad in p.ads],
        }


def _ad_truth(ad: Advert, base: str) -> dict:
    return {
        "platform": ad.platform,
        "external_id": ad.external_id,
        "url": base + ad.path,
        "network": ad.network,
        "poster_account": ad.poster_account,
        "template_id": ad.template_id,
        "title": ad.title,
        "name": ad.name,
        "age": str(ad.age),
        "location": ad.city,
        "price": ad.price,
        "posted": ad.posted.strftime(SPEC_BY_NAME[ad.platform].posted_format),
        "images": [
            {"url": base + im.path, "sha256": im.picture.sha256, "variant_of": im.variant_of}
            for im in ad.images
        ],
        "identifiers": [
            {
                "kind": c.kind,
                "value": c.value,
                "field": c.field,
                "obfuscation": c.obfuscation,
                "requires_browser": c.requires_browser,
                "channel": c.channel,
            }
            for c in ad.contacts
        ],
    }


# --------------------------------------------------------------------------- generation


def build_world(
    seed: int = 1,
    ads_per_platform: int = 12,
    sizes: Mapping[str, int] | None = None,
    crawl_delays: Mapping[str, float] | None = None,
) -> World:
    """Generate the world for ``seed``; every platform gets ``ads_per_platform`` adverts,
    except jp_dating (Crawl-delay 1 s) which gets at most 5 unless ``sizes`` says otherwise.
    ``crawl_delays``: the Crawl-delay a platform's robots.txt states instead of its own (the
    test suite's worlds ask for less than a second, so that its crawls wait less)."""
    counts = {s.name: ads_per_platform for s in SPECS}
    counts["jp_dating"] = min(ads_per_platform, 5)
    counts.update(sizes or {})
    specs = tuple(
        replace(s, crawl_delay=crawl_delays[s.name]) if s.name in (crawl_delays or {}) else s
        for s in SPECS
    )
    return _Builder(seed, counts).build(ads_per_platform, specs)


class _Builder:
    """Holds the seeded randomness and the uniqueness sets while one world is generated."""

    def __init__(self, seed: int, counts: dict[str, int]) -> None:
        self.seed = seed
        self.counts = counts
        self.rng = random.Random(f"adarchive-fixture/{seed}")
        self.used_phones: set[str] = set()
        self.used_handles: set[str] = set()
        self.used_ids: set[tuple[str, str]] = set()
        self.seen_image_seeds: set[str] = set()
        self.label_turns: dict[tuple[str, ...], int] = {}

    def _label(self, spec: PlatformSpec, kind: str, labels: tuple[str, ...]) -> str:
        """Take turns through ``labels`` per platform, so even a tiny world shows every form."""
        key = (spec.name, kind, *labels)
        turn = self.label_turns.setdefault(key, 0)
        self.label_turns[key] = turn + 1
        return labels[turn % len(labels)]

    def build(self, ads_per_platform: int, specs: tuple[PlatformSpec, ...]) -> World:
        networks, slots = self._plan_networks()
        platforms = [self._platform(spec, slots[spec.name], networks) for spec in specs]
        by_key = {n.id: n for n in networks}
        shown: dict[str, set[tuple[str, str]]] = {n.id: set() for n in networks}
        for p in platforms:
            for ad in p.ads:
                if ad.network:
                    by_key[ad.network].ads.append(ad.key)
                    shown[ad.network] |= {(c.kind, c.value) for c in ad.contacts}
        for net in networks:
            net.identifiers = [list(i) for i in net.shared() if i in shown[net.id]]
        return World(self.seed, ads_per_platform, platforms, networks)

    # -- networks

    def _plan_networks(self) -> tuple[list[Network], dict[str, list[str | None]]]:
        rng = self.rng
        slots: dict[str, list[str | None]] = {s.name: [None] * self.counts[s.name] for s in SPECS}
        free = {name: list(range(len(v))) for name, v in slots.items()}
        for idxs in free.values():
            rng.shuffle(idxs)
        capacity = {name: int(len(v) * 0.4) for name, v in slots.items()}
        total = sum(self.counts.values())
        homes = ("uk_directory", "kz_board", "kr_board", "jp_dating", "th_board")
        networks: list[Network] = []
        for k in range(max(2, round(total * 0.07))):
            home = next(
                (h for i in range(len(homes)) if capacity[h := homes[(k + i) % len(homes)]] >= 2),
                None,
            )
            if home is None:
                break
            members = {home: 3 if home == "uk_directory" and capacity[home] >= 3 else 2}
            others = [s.name for s in SPECS if s.name != home and capacity[s.name] >= 1]
            rng.shuffle(others)
            if k == 0:  # the showcase: one operator on three static platforms
                others = [o for o in ("kz_board", "jp_dating") if o in others] + others
            for other in others[: 2 if k == 0 else rng.randint(1, 2)]:
                members[other] = 1
            net = self._network(k + 1, SPEC_BY_NAME[home])
            for name, n in members.items():
                for _ in range(n):
                    slots[name][free[name].pop()] = net.id
                capacity[name] -= n
            networks.append(net)
        return networks, slots

    def _network(self, number: int, home: PlatformSpec) -> Network:
        rng = self.rng
        agency = rng.choice(content.AGENCIES)
        messenger = (home.messenger, self._handle(home.messenger))
        email = self._email() if rng.random() < 0.5 else None
        return Network(
            id=f"net-{number}",
            home=home.name,
            agency=agency,
            phone=self._phone(home.country),
            messenger=messenger,
            email=email,
            template_seed=f"{self.seed}/net-{number}/template",
            image_seeds=[f"{self.seed}/net-{number}/{i}" for i in range(2)],
            kakao_code=self._kakao_code(),
        )

    def _kakao_code(self) -> str:
        return "s" + "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(7))

    # -- identifiers

    def _phone(self, region: str) -> Phone:
        rng = self.rng
        while True:
            prefix = rng.choice(_MOBILE_PREFIXES[region])
            rest = "".join(
                rng.choice("0123456789") for _ in range(_NSN_LENGTH[region] - len(prefix))
            )
            phone = Phone(region, prefix + rest)
            if phone.e164 in self.used_phones or not content.lookalike_spots(phone.national):
                continue
            if phonenumbers.is_valid_number(phonenumbers.parse(phone.e164)):
                self.used_phones.add(phone.e164)
                return phone

    def _handle(self, kind: str) -> str:
        rng = self.rng
        while True:
            word = rng.choice(content.HANDLE_WORDS)
            sep = rng.choice(["_", "", "."]) if kind != "telegram" else rng.choice(["_", ""])
            handle = f"{word}{sep}{rng.choice(content.HANDLE_WORDS)}{rng.randint(1, 99)}"
            if handle not in self.used_handles:
                self.used_handles.add(handle)
                return handle

    def _email(self) -> str:
        return f"{self._handle('email').replace('.', '_')}@{self.rng.choice(content.EMAIL_DOMAINS)}"

    def _external_id(self, spec: PlatformSpec) -> str:
        low, high = {"jp_dating": (1000, 99999), "kr_board": (1000, 9999999)}.get(
            spec.name, (100000, 999999)
        )
        while True:
            ext = str(self.rng.randint(low, high))
            if (spec.name, ext) not in self.used_ids:
                self.used_ids.add((spec.name, ext))
                return ext

    def _non_phone_number(self, region: str, digits: int) -> str:
        """A reference number that is not a valid phone number in ``region`` (a distractor)."""
        while True:
            ref = str(self.rng.randint(10 ** (digits - 1), 10**digits - 1))
            try:
                valid = phonenumbers.is_valid_number(phonenumbers.parse(ref, region))
            except phonenumbers.NumberParseException:
                valid = False
            if not valid:
                return ref

    # -- platforms and adverts

    def _platform(
        self, spec: PlatformSpec, slots: list[str | None], networks: list[Network]
    ) -> Platform:
        by_id = {n.id: n for n in networks}
        ads = [self._advert(spec, by_id.get(slot) if slot else None) for slot in slots]
        ads.sort(key=lambda a: (a.posted, a.external_id), reverse=True)
        pages = max(1, -(-len(ads) // spec.page_size))
        traps = []
        for _ in range(pages):
            ext = self._external_id(spec)
            traps.append(spec.trap.format(id=ext, slug="profile"))
        return Platform(spec, ads, traps)

    def _advert(self, spec: PlatformSpec, net: Network | None) -> Advert:
        rng = self.rng
        lex = LEXICONS[spec.lang]
        ext = self._external_id(spec)
        name = rng.choice(lex.names)
        age = rng.randint(21, 39)
        city = rng.choice(lex.cities)
        height = rng.randint(155, 182)
        low, high, step = lex.price_range
        price_value = rng.randrange(low, high + 1, step)
        price = lex.price_form.format(price=_group_thousands(price_value, spec.lang))
        role = rng.choice(lex.roles)
        slots = {"name": name, "age": age, "city": city, "height": height}
        if net:
            sentences = _pick(random.Random(net.template_seed), lex.sentences, 4)
            sentences.append(lex.agency_lines[int(net.id.split("-")[1]) % len(lex.agency_lines)])
            slots["agency"] = net.agency
        else:
            sentences = _pick(rng, lex.sentences, rng.randint(3, 5))
        body_lines = [s.format(**slots) for s in sentences]
        title = rng.choice(lex.title_forms).format(role=role, city=city, name=name)

        contacts = self._contacts(spec, net)
        for c in contacts:
            if c.field == "body":
                body_lines.insert(rng.randint(1, len(body_lines)), f"{c.cue}: {c.shown}")
            elif c.field == "title":
                title = f"{title} | {c.cue} {c.shown}"
        slug = re.sub(r"[^a-z]+", "-", name.lower()).strip("-") or "profile"
        poster = None
        if spec.name == "uk_directory":
            poster = (
                "agency-" + re.sub(r"[^a-z]+", "-", net.agency.lower()).strip("-")
                if net
                else f"member-{rng.randint(10000, 99999)}"
            )
        advert = Advert(
            platform=spec.name,
            external_id=ext,
            path=spec.detail.format(id=ext, slug=slug),
            title=title,
            body="\n".join(body_lines),
            name=name,
            age=age,
            city=city,
            price=price,
            posted=NEWEST_POST - timedelta(days=rng.randint(0, 90)),
            height=height,
            views=rng.randint(12, 9999),
            ref=self._non_phone_number(spec.country, rng.choice([7, 8])),
            poster_account=poster,
            network=net.id if net else None,
            template_id=f"tpl-{net.id}" if net else None,
        )
        advert.images = self._images(spec, advert, net)
        advert.contacts = contacts
        return advert

    def _contacts(self, spec: PlatformSpec, net: Network | None) -> list[Contact]:
        rng = self.rng
        lex = LEXICONS[spec.lang]
        out: list[Contact] = []
        phone = net.phone if net else self._phone(spec.country)
        out.append(self._phone_contact(spec, phone))
        if net:
            if spec.render == "browser" or rng.random() < 0.7:
                out.append(self._messenger_contact(spec, *net.messenger, net.kakao_code))
            if net.email and rng.random() < 0.6:
                out.append(self._email_contact(spec, net.email))
        else:
            if rng.random() < 0.6 or spec.render == "browser":
                out.append(
                    self._messenger_contact(spec, spec.messenger, self._handle(spec.messenger))
                )
            if rng.random() < 0.3:
                out.append(self._email_contact(spec, self._email()))
        for c in out:
            c.cue = c.cue or lex.cues[c.channel or c.kind]
        return out

    def _field(self, label: str, allow_title: bool) -> str:
        if label.endswith("_link"):
            return "contacts"
        roll = self.rng.random()
        if allow_title and roll < 0.06:
            return "title"
        return "body" if roll < 0.25 else "contacts"

    def _phone_contact(self, spec: PlatformSpec, phone: Phone) -> Contact:
        rng = self.rng
        lex = LEXICONS[spec.lang]
        local = phone.region == spec.country
        if spec.render == "browser":  # behind the "show number" button
            label = (
                self._label(spec, "phone", content.PHONE_LABELS[spec.lang])
                if local
                else "international"
            )
            display = phone.national if local else phone.international
            shown = content.phone_form(display, label, rng)
            return Contact("phone", phone.e164, "contacts", label, shown, requires_browser=True)
        if local:
            label = self._label(spec, "phone", content.PHONE_LABELS[spec.lang])
            display = phone.national
        else:
            label = self._label(spec, "foreign", ("international", "tel_link", "wa_link"))
            display = phone.international
        digits = phone.e164.lstrip("+")
        if label == "wa_link":
            return Contact(
                "phone",
                phone.e164,
                "contacts",
                label,
                f"https://wa.me/{digits}",
                cue=lex.cues["whatsapp"],
                href=f"https://wa.me/{digits}",
                anchor=lex.cues["whatsapp"],
                channel="whatsapp",
            )
        shown = content.phone_form(display, label, rng)
        href = f"tel:{phone.e164}" if label == "tel_link" else None
        field_name = (
            "contacts" if href else self._field(label, allow_title=label in ("plain", "separators"))
        )
        return Contact("phone", phone.e164, field_name, label, shown, href=href)

    def _messenger_contact(
        self, spec: PlatformSpec, kind: str, handle: str, kakao_code: str | None = None
    ) -> Contact:
        lex = LEXICONS[spec.lang]
        label = self._label(spec, kind, content.MESSENGER_LABELS[kind])
        cue = lex.cues[kind]
        if label == "t_link":
            url = f"https://t.me/{handle}"
            return Contact(kind, handle, "contacts", label, url, cue=cue, href=url, anchor=cue)
        if label == "line_link":
            url = f"https://line.me/ti/p/~{handle}"
            return Contact(kind, handle, "contacts", label, url, cue=cue, href=url, anchor=cue)
        if label == "kakao_link":
            code = kakao_code or self._kakao_code()
            url = f"https://open.kakao.com/o/{code}"
            value = f"open.kakao.com/o/{code}"
            return Contact(kind, value, "contacts", label, url, cue=cue, href=url, anchor=cue)
        shown = f"@{handle}" if label == "handle" else handle
        return Contact(kind, handle, self._field(label, allow_title=False), label, shown, cue=cue)

    def _email_contact(self, spec: PlatformSpec, address: str) -> Contact:
        label = self._label(spec, "email", content.EMAIL_LABELS[spec.lang])
        shown = content.email_form(address, label)
        href = f"mailto:{address}" if label == "plain" and self.rng.random() < 0.5 else None
        field_name = "contacts" if href else self._field(label, allow_title=False)
        return Contact("email", address.lower(), field_name, label, shown, href=href)

    def _images(self, spec: PlatformSpec, ad: Advert, net: Network | None) -> list[AdImage]:
        rng = self.rng
        lo, hi = spec.images_per_ad
        count = rng.randint(lo, hi)
        out: list[AdImage] = []
        plan: list[tuple[str, str | None]] = []  # (seed, variant kind or None)
        if net:
            for seed in rng.sample(net.image_seeds, k=min(count, len(net.image_seeds))):
                first = seed not in self.seen_image_seeds
                self.seen_image_seeds.add(seed)
                plan.append(
                    (
                        seed,
                        None
                        if first
                        else rng.choice((None, None, *generated_pictures.VARIANT_KINDS)),
                    )
                )
        while len(plan) < count:
            plan.append((f"{self.seed}/{ad.key}/{len(plan)}", None))
        for n, (seed, kind) in enumerate(plan, start=1):
            if kind is None:
                pic = generated_pictures.original(seed, png=_png_original(seed))
                variant_of = None
            else:
                pic = generated_pictures.variant(seed, kind)
                variant_of = generated_pictures.original(seed, png=_png_original(seed)).sha256
            path = spec.image.format(id=ad.external_id, n=n, ext=pic.extension)
            out.append(AdImage(path, pic, variant_of))
        return out


def _pick(rng: random.Random, sentences: tuple[str, ...], k: int) -> list[str]:
    """``k`` sentences in their lexicon order (greeting first), as people write them."""
    return [sentences[i] for i in sorted(rng.sample(range(len(sentences)), k))]


def _png_original(seed: str) -> bool:
    return random.Random(seed).random() < 0.2


def _group_thousands(value: int, lang: str) -> str:
    return f"{value:,}".replace(",", " ") if lang == "ru" else f"{value:,}"
