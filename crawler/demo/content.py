"""Invented, neutral advert content per language, and the ways contacts get written.  Everything here is made up for the fixture web: names are common first names attached to no real person, roles are neutral (event companion, hostess, photo model, dance partner, guide, assistant), and all hosts are ``example.*``. The obfuscation writers produce only the forms the contact extractor is expected to undo (issue 4's list), each under a short label that lands in ``truth.json``."""

from __future__ import annotations

import random
from dataclasses import dataclass

# --------------------------------------------------------------------------- lexicons


@dataclass(frozen=True)
class Lexicon:
    """What a language's adverts are made of; ``{name}``/``{age}``/... are slots."""

    names: tuple[str, ...]
    cities: tuple[str, ...]
    roles: tuple[str, ...]
    title_forms: tuple[str, ...]
    sentences: tuple[str, ...]
    agency_lines: tuple[str, ...]
    price_form: str
    price_range: tuple[int, int, int]  # low, high, step
    cues: dict[str, str]  # kind of contact -> cue word in this language


# fmt: off
LEXICONS: dict[str, Lexicon] = {
    "ru": Lexicon(
        names=(
            "Айгерим", "Дана", "Алина", "Мадина", "Карина", "Асель", "Жанна", "Камила", "Дильназ",
            "Сабина", "Виктория", "Анель", "Томирис", "Аружан", "Инкар", "Лаура",
        ),
        cities=(
            "Алматы", "Астана", "Шымкент", "Караганда", "Актобе", "Павлодар", "Костанай", "Атырау",
        ),
        roles=(
            "Компаньонка на деловые мероприятия", "Сопровождение на выставки и конференции",
            "Хостес на банкеты и презентации", "Модель для фотосессий",
            "Партнёрша для бальных танцев", "Личный помощник на день", "Гид-переводчик по городу",
        ),
        title_forms=("{role}, {city}", "{role} — {name}", "{name}: {role}"),
        sentences=(
            "Меня зовут {name}, мне {age}.",
            "Помогу с организацией встреч и деловых поездок.",
            "Свободно говорю на русском, казахском и английском.",
            "Опыт работы на выставках более трёх лет.",
            "Работаю в городе {city} и пригородах.",
            "Только официальные мероприятия, дресс-код по договорённости.",
            "Фотосессии в студии и на природе.",
            "Танцую вальс, танго и латину.",
            "Рост {height} см.",
            "Стоимость указана за час, от двух часов скидка.",
            "Пунктуальна и вежлива.",
            "Принимаю заказы на выходные и праздники.",
            "Есть портфолио, покажу при встрече в офисе.",
        ),
        agency_lines=(
            "Агентство «{agency}»: сопровождающие для ваших мероприятий с 2015 года.",
            "Команда «{agency}» подберёт хостес и моделей под любой формат.",
        ),
        price_form="{price} ₸ / час",
        price_range=(8000, 40000, 1000),
        cues={
            "phone": "Тел.", "whatsapp": "WhatsApp", "telegram": "Телеграм", "email": "Почта",
            "line": "Line", "kakao": "KakaoTalk", "views": "Просмотров", "ref": "Объявление №",
            "button": "Показать номер",
        },
    ),
    "ja": Lexicon(
        names=("さくら", "あやか", "みゆ", "ゆい", "はるか", "なつみ", "りな", "まい", "美咲", "優子", "ひなた", "かえで"),
        cities=("東京", "大阪", "名古屋", "札幌", "福岡", "横浜", "神戸", "京都"),
        roles=("食事やイベントの相手募集", "カフェ巡りの友達募集", "ダンスパートナー募集", "撮影モデルやります", "観光案内できます"),
        title_forms=("{role}（{city}）", "【{city}】{role}", "{name}です。{role}"),
        sentences=(
            "はじめまして、{name}です。",
            "{city}在住の{age}歳です。",
            "週末に一緒にカフェや美術館に行ける方を探しています。",
            "社交ダンスのパートナーも募集中です。",
            "写真撮影のモデルもしています。",
            "身長は{height}cmです。",
            "お気軽にご連絡ください。",
            "真面目な方のみお願いします。",
            "英語と中国語が少し話せます。",
            "平日の夜も大丈夫です。",
        ),
        agency_lines=(
            "{agency}所属。イベントやパーティーの同伴を承ります。",
            "{agency}がご案内します。",
        ),
        price_form="1時間 {price}円",
        price_range=(3000, 20000, 500),
        cues={
            "phone": "電話", "whatsapp": "WhatsApp", "telegram": "テレグラム", "email": "メール",
            "line": "LINE ID", "kakao": "カカオトーク", "views": "閲覧数", "ref": "掲載番号", "button": "番号を表示",
        },
    ),
    "en": Lexicon(
        names=(
            "Amelia", "Chloe", "Sophie", "Grace", "Hannah", "Olivia", "Lucy", "Ella", "Megan",
            "Jessica", "Zara", "Freya", "Isla", "Poppy", "Ruby", "Evie",
        ),
        cities=(
            "London", "Manchester", "Birmingham", "Leeds", "Bristol", "Glasgow", "Liverpool",
            "Cardiff",
        ),
        roles=(
            "Event companion", "Corporate hostess", "Photo shoot model", "Ballroom dance partner",
            "Personal assistant for events", "City guide and companion",
        ),
        title_forms=("{role} in {city}", "{name} — {role}", "{role}, {city}"),
        sentences=(
            "Hi, I'm {name}, {age}.",
            "Available for corporate dinners, conferences and receptions.",
            "Experienced photo model, studio and outdoor shoots.",
            "Ballroom and Latin dance partner for classes and competitions.",
            "Based in {city}, happy to travel within the UK.",
            "Height {height} cm.",
            "Rates are per hour; minimum booking two hours.",
            "Professional, punctual and friendly.",
            "Fluent in English and Polish.",
            "Weekend bookings welcome.",
            "References available from previous event organisers.",
        ),
        agency_lines=(
            "Represented by {agency}, event staffing since 2016.",
            "{agency}: hostesses and companions for every occasion.",
        ),
        price_form="£{price} per hour",
        price_range=(40, 200, 5),
        cues={
            "phone": "Call", "whatsapp": "WhatsApp", "telegram": "Telegram", "email": "Email",
            "line": "LINE", "kakao": "KakaoTalk", "views": "Views", "ref": "Ref",
            "button": "Show number",
        },
    ),
    "ko": Lexicon(
        names=("지은", "수빈", "민지", "서연", "하은", "유나", "예린", "다은", "소희", "채원"),
        cities=("서울", "부산", "인천", "대구", "대전", "광주", "수원", "울산"),
        roles=("행사 도우미", "촬영 모델 가능", "댄스 파트너 구합니다", "통역 및 가이드", "개인 비서 업무"),
        title_forms=("[{city}] {role}", "{role} - {name}", "{name} {role}"),
        sentences=(
            "안녕하세요, {name}입니다.",
            "{age}살이고 {city}에 살고 있어요.",
            "행사 도우미 경력 3년 있습니다.",
            "사진 촬영 모델 가능합니다.",
            "댄스 파트너를 찾고 있어요.",
            "키 {height}cm입니다.",
            "주말에도 가능합니다.",
            "편하게 연락 주세요.",
            "영어와 일본어 통역 가능합니다.",
        ),
        agency_lines=(
            "{agency} 소속입니다. 각종 행사 지원합니다.",
            "{agency}에서 책임지고 소개해 드립니다.",
        ),
        price_form="시간당 {price}원",
        price_range=(30000, 150000, 5000),
        cues={
            "phone": "연락처", "whatsapp": "왓츠앱", "telegram": "텔레그램", "email": "이메일", "line": "라인",
            "kakao": "카톡", "views": "조회", "ref": "글번호", "button": "번호 보기",
        },
    ),
    "th": Lexicon(
        names=("ปิ่น", "แพร", "มายด์", "ฝน", "เฟิร์น", "น้ำ", "ใบเตย", "มิ้นท์", "แก้ว", "จูน"),
        cities=("กรุงเทพ", "เชียงใหม่", "ภูเก็ต", "พัทยา", "ขอนแก่น", "หาดใหญ่"),
        roles=("พริตตี้งานอีเวนต์", "นางแบบถ่ายภาพ", "คู่เต้นรำ", "ไกด์นำเที่ยว", "ผู้ช่วยส่วนตัว"),
        title_forms=("{role} {city}", "{name} {role}", "{role} ({city})"),
        sentences=(
            "สวัสดีค่ะ ชื่อ{name}ค่ะ",
            "อายุ {age} ปี อยู่{city}",
            "รับงานพริตตี้และงานอีเวนต์",
            "รับถ่ายแบบทั้งในสตูดิโอและนอกสถานที่",
            "สูง {height} ซม.",
            "พูดภาษาอังกฤษได้",
            "ติดต่อได้ทุกวัน",
            "มีประสบการณ์งานแสดงสินค้า",
        ),
        agency_lines=(
            "สังกัด {agency} รับงานอีเวนต์ทั่วประเทศ",
            "{agency} ยินดีให้บริการค่ะ",
        ),
        price_form="{price} บาท/ชม.",
        price_range=(800, 5000, 100),
        cues={
            "phone": "โทร", "whatsapp": "WhatsApp", "telegram": "เทเลแกรม", "email": "อีเมล",
            "line": "ไลน์", "kakao": "KakaoTalk", "views": "เข้าชม", "ref": "รหัสประกาศ",
            "button": "แสดงเบอร์",
        },
    ),
}
# fmt: on

# fmt: off
AGENCIES = (
    "Silver Line", "Aurora Events", "Blue Lotus", "Velvet Star", "Northern Light", "Golden Hour",
    "Crystal Bay", "Moonrise", "Harbour View", "Sakura Garden",
)
# fmt: on
"""Invented agency names (network template wording)."""

# fmt: off
HANDLE_WORDS = (
    "sunny", "star", "velvet", "city", "event", "lotus", "aurora", "mila", "nika", "luna", "bella",
    "rosa", "mira", "dina", "sora", "hana", "yuna", "pim", "fern", "kira",
)
# fmt: on
EMAIL_DOMAINS = ("example.org", "example.com", "example.net", "mail.example.org")


# --------------------------------------------------------------------------- digits

WORDS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS_RU = ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять")
KANJI = "〇一二三四五六七八九"
SINO_KOREAN = ("공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
FULLWIDTH = "０１２３４５６７８９"
THAI = "๐๑๒๓๔๕๖๗๘๙"
ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
KEYCAP = "\ufe0f\u20e3"


def _map_digits(display: str, table: str | tuple[str, ...], sep: str = "") -> str:
    """Replace each ASCII digit of ``display`` by ``table[d]`` (joined by ``sep``)."""
    out: list[str] = []
    for ch in display:
        if ch.isdigit():
            if out and out[-1] not in " -" and sep:
                out.append(sep)
            out.append(table[int(ch)])
        else:
            out.append(ch)
    return "".join(out)


def phone_form(display: str, label: str, rng: random.Random) -> str:
    """Write a phone's display form (e.g. ``8 701 234 56 78``) the way ``label`` says."""
    if label in ("plain", "international", "tel_link"):
        return display
    if label == "separators":
        sep = rng.choice(["-", ".", " / ", "_"])
        return sep.join(display.replace("-", " ").split())
    if label == "spaced":
        return " ".join(ch for ch in display if ch.isdigit() or ch == "+")
    if label == "letters":
        return _lookalike(display, rng)
    if label == "words_en":
        return _words(display, WORDS_EN)
    if label == "words_ru":
        return _words(display, WORDS_RU)
    if label == "keycap":
        return "".join(ch + KEYCAP if ch.isdigit() else ch for ch in display.replace(" ", ""))
    if label == "fullwidth":
        return _map_digits(display, FULLWIDTH).replace(" ", "\u3000")
    if label == "thai_digits":
        return _map_digits(display, THAI)
    if label == "arabic_indic":
        return _map_digits(display, ARABIC_INDIC)
    if label == "kanji":
        return _map_digits(display, KANJI)
    if label == "sino_korean":
        zero = rng.choice(["공", "영"])
        return _map_digits(display, (zero, *SINO_KOREAN[1:]))
    raise ValueError(f"unknown phone obfuscation {label!r}")


def _lookalike(display: str, rng: random.Random) -> str:
    """O/o for 0 and l/I for 1, only inside the digit run, at least one swap."""
    chars = list(display)
    spots = lookalike_spots(display)
    chosen = rng.sample(spots, k=min(len(spots), rng.randint(1, 2)))
    for i in chosen:
        chars[i] = rng.choice("Oo") if chars[i] == "0" else rng.choice("lI")
    return "".join(chars)


def lookalike_spots(display: str) -> list[int]:
    """Positions of 0/1 with a digit on both sides, at most one per pair of neighbours."""
    spots: list[int] = []
    for i in range(1, len(display) - 1):
        ok = display[i] in "01" and display[i - 1].isdigit() and display[i + 1].isdigit()
        if ok and (not spots or spots[-1] < i - 1):
            spots.append(i)
    return spots


def _words(display: str, words: tuple[str, ...]) -> str:
    groups = display.replace("-", " ").split()
    return ", ".join(" ".join(words[int(d)] for d in g if d.isdigit()) for g in groups)


def email_form(address: str, label: str) -> str:
    """Write an e-mail address the way ``label`` says."""
    local, domain = address.split("@")
    if label == "plain":
        return address
    if label == "at_dot":
        return f"{local} [at] {domain.replace('.', ' [dot] ')}"
    if label == "paren_at":
        return f"{local}(at){domain}"
    if label == "at_ru":
        return f"{local} собака {domain.replace('.', ' точка ')}"
    raise ValueError(f"unknown e-mail obfuscation {label!r}")


# fmt: off
PHONE_LABELS: dict[str, tuple[str, ...]] = {
    # the unusual forms first: a tiny world takes turns from the start of the list
    "ru": (
        "words_ru", "letters", "keycap", "spaced", "wa_link", "separators", "words_en", "plain",
        "tel_link",
    ),
    "ja": ("kanji", "fullwidth", "plain", "separators", "tel_link"),
    "en": (
        "words_en", "arabic_indic", "letters", "keycap", "spaced", "wa_link", "separators", "plain",
        "tel_link",
    ),
    "ko": ("sino_korean", "fullwidth", "spaced", "plain", "separators", "tel_link"),
    "th": ("thai_digits", "plain", "separators"),
}
# fmt: on
"""Obfuscations of a local phone per page language (a foreign phone: international / wa_link)."""

EMAIL_LABELS: dict[str, tuple[str, ...]] = {
    "ru": ("at_ru", "at_dot", "plain"),
    "ja": ("at_dot", "plain"),
    "en": ("at_dot", "paren_at", "plain"),
    "ko": ("paren_at", "plain"),
    "th": ("plain",),
}

MESSENGER_LABELS: dict[str, tuple[str, ...]] = {
    "telegram": ("cue", "handle", "t_link"),
    "line": ("cue", "line_link"),
    "kakao": ("cue", "kakao_link"),
}
