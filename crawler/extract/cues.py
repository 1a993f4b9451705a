"""Multilingual cue lexicon: words that say "a contact follows" or "this is not one".

One combined regex finds every cue of a text in a single scan; each hit is
labelled with what it announces (a phone, a messenger) or ``neg`` for words
that announce a price, an age, a reference number and the like. Phrases come
before their parts in the alternation ("LINE ID", "tel no"), so "ID" and "no"
inside them are not read as reference-number cues.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from crawler.extract.spans import SpanSet

_B = r"(?<![^\W\d_])"  # no letter before (digits may touch: "тел8701...")
_E = r"(?![^\W\d_])"  # no letter after
_CYR = r"[а-яёәғқңөұүһіјў]*"  # Russian / Kazakh / Kyrgyz / Uzbek-Cyrillic word tail


def _words(*words: str) -> str:
    """Latin/Cyrillic words that must stand alone (not inside a longer word)."""
    return _B + "(?:" + "|".join(words) + ")" + _E


_ID = r"(?:\s?(?:id|ID|아이디|ไอดี|号|號))?"

_PHRASES: dict[str, str] = {
    # "Ad number 123…", "номер объявления 123…": a number, but not a phone one
    "neg": _words(
        r"(?:ad|ref|reference|order|invoice|account|serial|tracking|booking|case|item|lot|card|id)"
        r"\.?\s?(?:no|number|nr|num|#)\.?",
        r"номер\s(?:объявлени|заказ|карт|сч[её]т|договор|паспорт|документ|квартир|дом)" + _CYR,
    )
    + r"|(?:掲載|管理|受付|会員|注文|登録|問合せ|商品|物件|整理|認証)(?:番号|No\.?|ID)"
    + r"|(?:글|게시|게시글|주문|회원|등록|상품|인증|관리)\s?번호",
    "phone": _words(
        r"(?:tel|phone|contact|mobile|mob|cell|cp|whatsapp|wa|viber)\.?\s?(?:no|number|nr|num|#)\.?",
        r"номер\s(?:телефона|тел\.?|whatsapp|ватсап)",
    ),
}

_CUES: dict[str, str] = {
    "whatsapp": _words(
        r"what'?s\s?app?",
        r"whats?app?",
        r"watsapp?",
        r"wa",
        r"w/a",
        r"wapp",
        r"вотс?\s?ап+" + _CYR,
        r"ват\s?с?\s?ап+" + _CYR,
        r"вацап+" + _CYR,
        r"воцап+" + _CYR,
        r"уатсап+" + _CYR,
    )
    + r"|왓츠앱|왓츠|ワッツアップ|วอทส์แอพ|วอทส์แอป|วอทแอพ",
    "telegram": _words(
        r"telegram+" + _ID,
        r"tg",
        r"tlg",
        r"телеграм+" + _CYR,
        r"телег[аеуио]",
        r"тг",
        r"тлг",
    )
    + r"|텔레그램|텔레|テレグラム|เทเลแกรม|电报|飞机|飛機",
    "line": _B
    + r"(?-i:LINE|Line)"
    + _E
    + _ID
    + "|"
    + _words(r"line\s?id", r"line(?=\s?[:：])")
    + r"|ไลน์(?:\s?ไอดี)?|ライン(?:\s?ID)?|라인(?:\s?아이디)?",
    "kakao": _words(r"kakao\s?talk" + _ID, r"kakao" + _ID, r"katalk" + _ID)
    + r"|(?:카카오톡|카카오|카톡|캌톡|カカオトーク|カカオ)"
    + _ID
    + r"|톡\s?아이디",
    "wechat": _words(r"we\s?chat" + _ID, r"weixin", r"vx", r"wx")
    + r"|(?:微信|威信|薇信|V信|v信)"
    + _ID,
    "viber": _words(r"viber", r"вайбер" + _CYR, r"вибер" + _CYR),
    "other": _words(r"insta(?:gram)?", r"ig", r"инст[аы]" + _CYR, r"twitter", r"x\.com", r"tiktok"),
    "phone": _words(
        r"tel",
        r"t[eé]l[eé]?",
        r"telephone",
        r"telefon[a-z]*",
        r"telp",
        r"phone",
        r"ph",
        r"mob(?:ile)?",
        r"cell(?:phone)?",
        r"calls?",
        r"contacts?",
        r"cp",
        r"txt",
        r"text",
        r"sms",
        r"hotline",
        r"number",
        r"tawag",
        r"tumawag",
        r"i-text",
        r"mag-text",
        r"aloqa",
        r"qo['ʻ`’]ng['ʻ`’]iroq",
        r"murojaat",
        r"тел",
        r"телефон" + _CYR,
        r"звон" + _CYR,
        r"пиш" + _CYR,
        r"номер" + _CYR,
        r"моб" + _CYR,
        r"сот" + _CYR,
        r"контакт" + _CYR,
        r"связ" + _CYR,
        r"обращ" + _CYR,
        r"хабарлас" + _CYR,
        r"байланыс" + _CYR,
        r"байланыш" + _CYR,
        r"қоңырау" + _CYR,
        r"чалы" + _CYR,
    )
    + r"|電話|連絡|联系|聯繫|聯絡|携帯|ケータイ|お?問い?合わ?せ|でんわ|(?-i:TEL)|ＴＥＬ|ｔｅｌ"
    + r"|연락|전화|문의|핸드폰|휴대폰|폰|문자|โทร|ติดต่อ|เบอร์|สอบถาม|电话|手机|手機"
    + r"|📞|☎|📱|📲|☏",  # the telephone emojis say "call" in every language
    "neg": _words(
        r"prices?",
        r"cost",
        r"rates?",
        r"fee",
        r"цен" + _CYR,
        r"стоимост" + _CYR,
        r"тариф" + _CYR,
        r"оплат" + _CYR,
        r"руб" + _CYR,
        r"тенге",
        r"rs\.?",
        r"inr",
        r"presyo",
        r"bayad",
        r"narx" + r"[a-z]*",
        r"баа" + _CYR,
        r"баға" + _CYR,
        r"age",
        r"aged",
        r"возраст" + _CYR,
        r"лет",
        r"edad",
        r"years?",
        r"height",
        r"weight",
        r"рост",
        r"вес",
        r"размер",
        r"size",
        r"id",
        r"ref",
        r"reference",
        r"артикул",
        r"арт",
        r"код",
        r"code",
        r"объявлени" + _CYR,
        r"ad",
        r"ads",
        r"order",
        r"заказ" + _CYR,
        r"invoice",
        r"сч[её]т",
        r"iin",
        r"иин",
        r"бин",
        r"bin",
        r"инн",
        r"inn",
        r"passport",
        r"паспорт" + _CYR,
        r"isbn",
        r"issn",
        r"sku",
        r"lot",
        r"views?",
        r"viewed",
        r"просмотр" + _CYR,
        r"date",
        r"дата",
        r"posted",
        r"posts?",
        r"posting",
        r"listing",
        r"опубликован" + _CYR,
        r"обновлен" + _CYR,
        r"верси" + _CYR,
        r"version",
        r"ver",
        r"build",
        r"updated",
        r"индекс",
        r"postcode",
        r"post\s?code",
        r"zip",
        r"postal",
        r"card",
        r"карт" + _CYR,
        r"kaspi",
        r"каспи",
        r"account",
        r"iban",
        r"бик",
        r"no\.?",
        r"nr\.?",
    )
    + r"|[$€£¥₩฿₸₽₱₹№#〒👁]|ราคา|อายุ|ส่วนสูง|น้ำหนัก|เข้าชม|รหัสไปรษณีย์|รหัสประกาศ|รหัส"
    + r"|価格|料金|値段|年齢|身長|体重|閲覧|日付|郵便|가격|요금|나이|몸무게|조회|날짜|우편번호",
}

_ORDER = ("phrase", "whatsapp", "telegram", "line", "kakao", "wechat", "viber", "other", "phone")
# Every cue starts at a word start (Latin/Cyrillic) or with a symbol or a
# character of a script written without spaces: testing that first keeps the
# long alternation off most positions (spaces, digits, mid-word letters).
_START = (
    r"(?=(?<![^\W\d_])[A-Za-zÀ-ɏЀ-ӿ]"
    r"|[$€£¥₩฿₸₽₱₹№#〒👁📞☎📱📲☏\u0E00-\u0E7F\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7AF\uFF00-\uFFEF])"
)
_CUE_RE = re.compile(
    _START
    + "(?:"
    + "|".join(
        [f"(?P<negphrase>{_PHRASES['neg']})", f"(?P<phrase>{_PHRASES['phone']})"]
        + [f"(?P<{k}>{_CUES[k]})" for k in _ORDER[1:]]
        + [f"(?P<neg>{_CUES['neg']})"]
    )
    + ")",
    re.IGNORECASE,
)

# Units and currencies right after a number: it is a quantity, not a contact.
_UNIT_AFTER_RE = re.compile(
    r"[\s\-]{0,2}(?:"
    + _words(
        r"cm",
        r"см",
        r"mm",
        r"мм",
        r"kg",
        r"кг",
        r"lbs?",
        r"лет",
        r"год" + _CYR,
        r"y\.?o\.?",
        r"yrs?",
        r"years?",
        r"тг",
        r"тенге",
        r"kzt",
        r"руб" + _CYR,
        r"р\.?",
        r"rub",
        r"usd",
        r"eur",
        r"gbp",
        r"php",
        r"pesos?",
        r"сом",
        r"сум",
        r"so['ʻ`’]m",
        r"som",
        r"views?",
        r"просмотр" + _CYR,
        r"раз",
        r"шт",
        r"мин",
        r"min",
        r"mins",
        r"hours?",
        r"hrs?",
        r"час" + _CYR,
        r"ч",
        r"k",
        r"тыс",
        r"млн",
        r"m",
        r"м",
        r"km",
        r"км",
        r"sq",
        r"кв",
        r"baht",
        r"yen",
        r"won",
    )
    # A currency sign that opens the next amount ("415-555-0132 $200") is not this
    # number's unit.
    + r"|[$€£¥₩฿₸₽₱₹](?!\s?\d)|[%円원세살歳才]|ปี|บาท|m²|м²)"
    + r"(?!\s?[:：])",  # "Просмотров: 12" after a number labels what follows
    re.IGNORECASE,
)

# A sentence break between a cue and a number: the cue belongs to the sentence before.
_BREAK_RE = re.compile(r"[.!?。;]\s|\n")
_AFTER_NUMBER_RE = re.compile(r"\d[ \u00a0]?$")
_UNIT_OF_PREVIOUS_RE = re.compile(r"\d[ \u00a0]?$")
_CURRENCY_RE = re.compile(r"[$€£¥₩฿₸₽₱₹]")
_WA_IN_PHRASE = re.compile(r"wa|whats|ватсап", re.IGNORECASE)

# Opening hours between a cue and its number: one- or two-digit hours, optional
# minutes, am/pm or the hour words of our markets.
_HOURS_WINDOW = 30
_HOURS_RE = re.compile(
    r"(?<!\d)\d{1,2}(?:[:.]\d{2})?(?!\d)\s?(?:am|pm|a\.m\.|p\.m\.|h|hrs?|ч|時|시|น\.?)?",
    re.IGNORECASE,
)

# Where "WA" is a state in every address (Washington, Western Australia).
_WA_IS_A_STATE = frozenset({"US", "AU"})
_LABEL_RE = re.compile(r"\s?[:：]")

POSITIVE = frozenset({"phone", "whatsapp", "telegram", "line", "kakao", "wechat", "viber"})


@dataclass(frozen=True, slots=True)
class Cue:
    start: int
    end: int
    kind: str  # "phone", a messenger name, "other" (a non-contact handle), or "neg"


class CueIndex:
    """All cues of one text, sorted, with the look-ups the extractors need."""

    def __init__(self, text: str, region: str | None = None) -> None:
        self.text = text
        self.cues: list[Cue] = []
        state_wa = region in _WA_IS_A_STATE
        for m in _CUE_RE.finditer(text):
            kind = m.lastgroup or "phone"
            if (
                kind == "telegram"
                and m.group().lower() == "тг"
                and _AFTER_NUMBER_RE.search(text, max(0, m.start() - 2), m.start())
            ):
                kind = "neg"  # "5000 тг": tenge, not Telegram
            elif kind == "whatsapp" and state_wa and m.group() == "WA":
                if not _LABEL_RE.match(text, m.end()):
                    continue  # Washington, Western Australia: an address; "WA:" is WhatsApp
            elif kind == "negphrase":
                kind = "neg"
            elif kind == "phrase":
                kind = "whatsapp" if _WA_IN_PHRASE.search(m.group()) else "phone"
            self.cues.append(Cue(m.start(), m.end(), kind))
        self._index()

    def _index(self) -> None:
        self._ends = [c.end for c in self.cues]
        self._starts = [c.start for c in self.cues]

    def drop_inside(self, claimed: SpanSet) -> None:
        """Forget cues inside links and e-mails ("wa" of "wa.me", "tel" of a path)."""
        kept = [c for c in self.cues if not claimed.overlaps(c.start, c.end)]
        if len(kept) != len(self.cues):
            self.cues = kept
            self._index()

    def before(self, pos: int, window: int) -> list[Cue]:
        """Cues ending in ``[pos - window, pos]``, nearest last."""
        hi = bisect.bisect_right(self._ends, pos)
        lo = bisect.bisect_left(self._ends, pos - window)
        return self.cues[lo:hi]

    def after(self, pos: int, window: int) -> list[Cue]:
        """Cues starting in ``[pos, pos + window]``, nearest first."""
        lo = bisect.bisect_left(self._starts, pos)
        hi = bisect.bisect_right(self._starts, pos + window)
        return self.cues[lo:hi]

    def has_positive_near(self, start: int, end: int, before: int = 60, after: int = 20) -> bool:
        """Is there any contact cue shortly before or after ``start:end``?"""
        return any(c.kind in POSITIVE for c in self.before(start, before)) or any(
            c.kind in POSITIVE for c in self.after(end, after)
        )

    def announced(self, start: int, end: int, before: int = 30, after: int = 20) -> bool:
        """Is the number at ``start:end`` announced by a contact cue right next to it?

        Either the nearest cue before it is positive with no other number in
        between, or a positive cue follows it closely ("701 234 56 78 (WhatsApp)").
        """
        if self.positive_just_before(start, before):
            return True
        follow = self.after(end, after)
        if not follow or follow[0].kind not in POSITIVE:
            return False
        return not any(c.isdigit() for c in self.text[end : follow[0].start])

    def negative_before(self, start: int, window: int = 30) -> bool:
        """The nearest cue before ``start`` is negative and no other number lies between."""
        near = self.before(start, window)
        if not near or near[-1].kind != "neg":
            return False
        cue = near[-1]
        if (
            cue.start > 0
            and self.text[cue.start - 1].isdigit()
            and _CURRENCY_RE.fullmatch(self.text[cue.start : cue.end])
        ):
            return False  # "600£ 07125 856091": the sign is the price's, glued to it
        if _UNIT_OF_PREVIOUS_RE.search(self.text, max(0, cue.start - 2), cue.start):
            unit = _UNIT_AFTER_RE.match(self.text, cue.start)
            if unit is not None and unit.end() >= cue.end:
                return False  # "156,359 views", "600£": the unit of the number before it
        gap = self.text[cue.end : start]
        return not any(c.isdigit() for c in gap) and _BREAK_RE.search(gap, 1) is None

    def positive_just_before(self, start: int, window: int = 30) -> bool:
        """The nearest cue before ``start`` announces a contact, with no number between.

        Opening hours may stand between ("Звонить с 10 до 22: 90 029 98 94",
        "Call 10am-10pm: …"): hours are not another number.
        """
        near = self.before(start, window + _HOURS_WINDOW)
        if not near or near[-1].kind not in POSITIVE:
            return False
        gap = self.text[near[-1].end : start]
        brk = _BREAK_RE.search(gap)
        if brk is not None and any(c.isalpha() for c in gap[brk.end() :]):
            return False  # the cue ends a sentence before ("No calls. Andheri 699757 …")
        if any(c.isdigit() for c in gap):
            gap = _HOURS_RE.sub("", gap)
        return len(gap) <= window and not any(c.isdigit() for c in gap)

    def is_cue_at(self, start: int, end: int) -> bool:
        """Is ``text[start:end]`` (a word touching a number) itself a positive cue?"""
        lo = bisect.bisect_left(self._starts, start)
        return any(
            c.start == start and c.end == end and c.kind in POSITIVE for c in self.cues[lo : lo + 2]
        )


def unit_follows(text: str, end: int) -> bool:
    """Does a unit or currency follow the number ending at ``end``?"""
    return _UNIT_AFTER_RE.match(text, end) is not None
