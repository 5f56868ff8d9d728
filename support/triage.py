"""Triage of viewer comments: question or chatter, category, language, and the product asked about.

Pure functions over text, with no database access: the service hands in the channel's extra
keywords and the stream's lineup. They run in the Celery worker that dispatches the ingest
webhook (hundreds of comments a second), so everything that can be prepared once is: keyword
patterns are compiled once per keyword set, the lineup index once per lineup, and jieba's
dictionary is loaded once per process, on first use (`segment`), never by a web request.

Language is told by a heuristic, in this order (documented because it is a guess):
1. No letter of any script (emoji, digits, punctuation only): "und".
2. Thai script present and at least as much Thai as Han: "th".
3. Japanese kana: "ja"; Hangul: "ko".
4. Han characters at least as many as Latin words: "zh" ("M码还有吗", "50kg穿什么码").
5. Latin text with letters only Vietnamese uses (ơ ư đ ă and the stacked tone marks): "vi";
   unaccented Vietnamese is caught by its function words ("bao nhieu", "khi nao", "ko").
6. Malay and Indonesian share most words. Words only one of them uses ("tak", "nak",
   "saiz", "boleh" / "bisa", "nggak", "kapan", "ukuran", "ongkir") decide; shared words
   ("berapa", "harga", "ada") count for both, and a tie between them goes to "ms" (Shopee
   Malaysia is the larger of the two markets these channels serve). They win over English
   only with at least as many hits as English function words.
7. Otherwise Latin text is "en".
"""

import logging
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from .models import Category

# --- Text preparation -------------------------------------------------------------------


def fold(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII, ？ stays distinct) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


_jieba_lock = threading.Lock()
_jieba_tokenizer: Any = None


def segment(text: str) -> list[str]:
    """Chinese word segmentation (jieba), loading its dictionary on first use in a process.

    A private tokenizer, so the words added here (the grouping lexicon) do not change how
    any other code in the process segments text. jieba logs its dictionary load at INFO;
    it is silenced, since a worker loading it is expected, not news.
    """
    global _jieba_tokenizer
    tokenizer = _jieba_tokenizer
    if tokenizer is None:
        with _jieba_lock:
            if _jieba_tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                fresh = jieba.Tokenizer()
                fresh.initialize()
                for word in _JIEBA_WORDS:
                    fresh.add_word(word, freq=200_000)
                _jieba_tokenizer = fresh
            tokenizer = _jieba_tokenizer
    return tokenizer.lcut(text)


# Words jieba should keep whole; filled by the grouping lexicon (see grouping.py).
_JIEBA_WORDS: list[str] = []


def add_segmentation_words(words: Iterable[str]) -> None:
    """Called at import by modules with their own lexicon, before the first `segment`."""
    _JIEBA_WORDS.extend(words)


# --- Language ---------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[a-zà-ɏḀ-ỿ]+")
_VIETNAMESE_LETTERS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
_VIETNAMESE_UNACCENTED = re.compile(
    r"\b(bao nhieu|khi nao|bao gio|duoc khong|co khong|con hang|het hang|gia bao)\b"
)


def _words(*lines: str) -> list[str]:
    return " ".join(lines).split()


_MALAY_ONLY = frozenset(
    _words(
        "tak nak saiz boleh bila hantar pos kasut baju ke sikit lagi dah camne macam mana "
        "penghantaran bayaran balik rosak diskaun baucar stok"
    )
)
_INDONESIAN_ONLY = frozenset(
    _words(
        "bisa nggak gak ga enggak kapan ukuran ongkir kirim pengiriman dong kak gimana udah "
        "sudah diskon retur tukar kok aja banget"
    )
)
_MALAY_SHARED = frozenset(
    _words("berapa brp harga ada apa ini itu untuk saya sampai warna bahan barang masih")
)
_ENGLISH = frozenset(
    _words(
        "the a an is are do does can how what when where which why who will there this that "
        "it for to of in on my i you your any still much many have has size price ship"
    )
)


def detect_language(text: str) -> str:
    """The comment's language code (see the module docstring for the heuristic)."""
    folded = fold(text)
    han = len(_HAN.findall(folded))
    thai = len(_THAI.findall(folded))
    words = _LATIN_WORD.findall(folded)
    if thai and thai >= han:
        return "th"
    if _KANA.search(folded):
        return "ja"
    if _HANGUL.search(folded):
        return "ko"
    if han and han >= len(words):
        return "zh"
    if not words:
        return "zh" if han else "und"
    if _VIETNAMESE_LETTERS.search(folded) or _VIETNAMESE_UNACCENTED.search(folded):
        return "vi"
    malay = sum(word in _MALAY_ONLY for word in words)
    indonesian = sum(word in _INDONESIAN_ONLY for word in words)
    shared = sum(word in _MALAY_SHARED for word in words)
    english = sum(word in _ENGLISH for word in words)
    if (malay or indonesian or shared) and malay + indonesian + shared >= english:
        return "id" if indonesian > malay else "ms"
    return "en"


# --- Question or chatter ----------------------------------------------------------------

_QUESTION_MARK = re.compile(r"[?？¿]")
_CHINESE_QUESTION = re.compile(
    r"吗|呢|么$|多少|怎么|怎样|咋|什么|啥|几|能不能|有没有|是不是|可不可以|会不会|要不要"
    r"|哪|谁|多久|多大|多长|多重|如何|为什么|请问|想问|问一下|问下|求问|[不没]$"
    # "A不A" asks yes or no: 厚不厚, 包不包邮, 有没有.
    r"|(.)[不没]\1"
    # A bare topic at the end asks for it: "2号链接价格", "运费".
    r"|(价格|价钱|尺码|码数|库存|运费|材质|面料)$"
)
_ENGLISH_QUESTION = re.compile(
    r"\b(how|hw|what|whats|wat|when|whens|where|which|why|who)\b(?! a\b)"
    r"|^(do|does|did|is|are|was|will|would|can|could|should|may|any|have|has)\b"
    r"|\b(is there|are there|can i|can u|can you|do you|do u|does it|does this|is it)\b"
    r"|\b(pls|plz|please)\b.*\b(price|size|ship|stock|coupon|link|info)\b"
)
_MALAY_QUESTION = re.compile(
    r"\b(berapa|brp|bila|bilakah|bisa|apa|boleh tak|boleh ke|ada tak|ada ke|ada gak|ada nggak"
    r"|ada ga|kapan|gimana|bagaimana|camne|macam mana|apakah|mau tanya|nak tanya|\w+kah)\b"
    r"|\b(tak|ke|gak|nggak)$"
)
_THAI_QUESTION = re.compile(
    r"ไหม|มั้ย|มั๊ย|หรือเปล่า|หรือยัง|เท่าไหร่|เท่าไร|อะไร|ยังไง|อย่างไร|เมื่อไหร่|เมื่อไร|กี่|ไหน|บ้าง"
)
_VIETNAMESE_QUESTION = re.compile(
    r"\b(bao nhiêu|bao nhieu|khi nào|khi nao|bao giờ|bao gio|mấy|thế nào|như thế nào|gì|sao"
    r"|cho hỏi|cho em hỏi|cho mình hỏi|ở đâu|đâu)\b"
    r"|\b(không|khong|ko|chưa|chua)( (ạ|a|shop|ad|vậy|vay|chị|anh|em|bạn|c|sốp))?$"
)
_QUESTION_PATTERNS = (
    _CHINESE_QUESTION,
    _ENGLISH_QUESTION,
    _MALAY_QUESTION,
    _THAI_QUESTION,
    _VIETNAMESE_QUESTION,
)


def looks_like_question(text: str) -> bool:
    """A question mark or a question word in any of the languages we serve.

    Every language's markers are tried, whatever the detected language: live chat mixes
    them ("M码 still got?"). Word markers are matched on the text with link references
    ("几号链接") left in, so "3号" alone is not mistaken for "几号".
    """
    folded = fold(text).strip()
    if _QUESTION_MARK.search(folded):
        return True
    return any(pattern.search(folded) for pattern in _QUESTION_PATTERNS)


# --- Categories -------------------------------------------------------------------------

# Built-in keywords per category, in the languages the channels use. A supervisor adds to
# them per channel (SupportPolicy.keywords). Where keywords overlap, the longest one found
# at a position wins ("优惠码" is a coupon, not "码" for size).
BUILTIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    Category.SIZE: (
        # zh
        "尺码", "码数", "什么码", "几码", "多大码", "码", "哪个码", "尺寸", "大小", "身高",
        "体重", "斤",
        "公斤", "偏大", "偏小", "合身", "腰围", "胸围", "肩宽", "衣长", "裤长", "穿多大",
        "穿什么", "能穿", "鞋码", "均码", "xl", "xxl", "2xl", "3xl",
        # en
        "size", "sizes", "sizing", "fit", "fits", "tall", "height", "weight", "kg", "cm",
        "waist", "small", "medium", "large", "length", "plus size", "free size",
        # ms / id
        "saiz", "ukuran", "muat", "berat", "tinggi", "lingkar",
        # th
        "ไซส์", "ไซซ์", "ขนาด", "รอบอก", "เอว", "สูง", "น้ำหนัก", "กิโล",
        # vi
        "cỡ", "kích thước", "mặc vừa", "vừa không", "cân nặng", "chiều cao",
    ),
    Category.PRICE: (
        "多少钱", "价格", "价钱", "几块", "多少米", "贵", "便宜", "单价", "到手价", "原价",
        "优惠价", "块钱", "多钱", "什么价", "价", "便宜点", "便宜一点",
        "price", "prices", "how much", "hw much", "cost", "costs", "cheap", "cheaper",
        "expensive", "rm", "$",
        "harga", "brp harga", "berapa harga", "murah", "mahal",
        "ราคา", "กี่บาท", "บาท",
        "giá", "bao nhiêu tiền", "bao nhieu tien", "gia bao nhieu",
    ),
    Category.SHIPPING: (
        "发货", "几天到", "快递", "包邮", "运费", "邮费", "物流", "到货", "送到", "配送",
        "顺丰", "多久到", "能到", "寄", "发什么快递", "几天发", "偏远", "货到付款", "时候发",
        "几时发", "多久发",
        "ship", "ships", "shipping", "shipped", "delivery", "deliver", "arrive", "arrives",
        "courier", "postage", "cod",
        "pos", "penghantaran", "hantar", "sampai", "ongkir", "kirim", "pengiriman", "dikirim",
        "pos percuma", "free postage",
        "ส่ง", "จัดส่ง", "ค่าส่ง", "ส่งฟรี",
        "giao hàng", "giao", "phí ship", "vận chuyển", "ship cod",
    ),
    Category.STOCK: (
        "有货", "还有吗", "有没有货", "库存", "没货", "补货", "抢完", "卖完", "售罄", "还有多少",
        "断码", "还剩", "剩多少", "还能拍", "拍不了", "拍不到", "抢不到", "现货", "缺货", "上架",
        "还有没有", "有没有货", "lagi",
        "in stock", "stock", "sold out", "restock", "available", "left", "out of stock",
        "stok", "habis", "ada lagi", "ready stock", "masih ada", "tersedia",
        "มีของ", "หมด", "สต็อก", "สต๊อก", "ของหมด", "มีของไหม",
        "còn hàng", "hết hàng", "còn không", "còn size", "con hang",
    ),
    Category.PROMO: (
        "优惠券", "优惠", "券", "领券", "折扣", "打折", "满减", "红包", "福袋", "秒杀", "活动",
        "赠品", "送什么", "优惠码", "买一送一", "减价", "抽奖", "会员价", "拼单",
        "coupon", "coupons", "voucher", "vouchers", "discount", "promo", "promotion", "code",
        "deal", "free gift", "gift", "sale", "flash sale", "lucky bag", "giveaway", "bundle",
        "baucar", "diskaun", "diskon", "potongan", "kupon", "hadiah", "percuma", "gratis",
        "โค้ด", "คูปอง", "ส่วนลด", "ลดราคา", "ของแถม",
        "mã giảm giá", "khuyến mãi", "giảm giá", "quà", "freeship",
    ),
    Category.AFTER_SALES: (
        "退货", "退款", "换货", "售后", "七天无理由", "保修", "质量问题", "坏了", "破损", "运费险",
        "退换", "发错", "没收到", "投诉", "漏发", "少发", "还没到", "退", "收到", "换", "换码",
        "return", "returns", "refund", "refunds", "exchange", "warranty", "broken", "damaged",
        "wrong item", "not received", "received", "never arrived", "missing", "complaint",
        "pulangan", "bayaran balik", "rosak", "tukar", "pengembalian", "retur", "belum sampai",
        "belum terima", "garansi", "jaminan",
        "คืนสินค้า", "คืนเงิน", "เปลี่ยน", "ประกัน", "ยังไม่ได้รับ",
        "đổi trả", "hoàn tiền", "bảo hành", "đổi hàng", "chưa nhận",
    ),
    Category.PRODUCT: (
        "材质", "面料", "成分", "什么材料", "料子", "布料", "颜色", "色号", "几个颜色", "味道",
        "保质期", "功效",
        "适合", "敏感肌", "敏感", "防水", "产地", "怎么用", "用法", "正品", "纯棉", "掉色",
        "起球", "透",
        "厚", "薄", "重不重", "容量", "多少毫升", "毫升", "油皮", "干皮", "孕妇", "几岁", "机洗",
        "水洗", "洗", "wash", "washable", "basuh", "cuci", "ซัก", "giặt", "掉色", "褪色", "fade",
        "luntur", "真的", "保真", "假货", "fake",
        "material", "fabric", "colour", "color", "colors", "colours", "ingredients",
        "waterproof", "quality", "made of", "how to use", "expiry", "suitable", "sensitive",
        "cotton", "original", "authentic", "thick", "thin", "ml", "volume", "scent", "smell",
        "bahan", "warna", "kain", "kualitas", "kualiti", "sesuai", "asli", "ori", "tebal",
        "สี", "วัสดุ", "ผ้า", "ของแท้", "ใช้ยังไง", "เหมาะ",
        "chất liệu", "màu", "vải", "hàng thật", "chính hãng", "dùng như thế nào",
    ),
}  # fmt: skip

# When two categories match equally, the earlier one here wins: the more specific intents
# (a problem with an order, a coupon) over the general ones (what it is, how big).
CATEGORY_ORDER = (
    Category.AFTER_SALES,
    Category.PROMO,
    Category.STOCK,
    Category.SHIPPING,
    Category.PRICE,
    Category.SIZE,
    Category.PRODUCT,
)


def _keyword_pattern(keyword: str) -> str:
    # Latin keywords must stand as words ("fit" is not in "profit"); Han, Thai and signs
    # have no spaces between words, so they match anywhere.
    # Digits may touch them: "50kg", "rm59", "2xl".
    escaped = re.escape(keyword)
    head = r"(?<![a-zà-ɏḀ-ỿ])" if re.match(r"[a-zà-ɏḀ-ỿ]", keyword) else ""
    tail = r"(?![a-zà-ɏḀ-ỿ])" if re.search(r"[a-zà-ɏḀ-ỿ]$", keyword) else ""
    return head + escaped + tail


@dataclass(frozen=True)
class _Keywords:
    pattern: re.Pattern
    category_of: dict[str, str]
    latin_words: list[str]


@lru_cache(maxsize=256)
def _keywords(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> _Keywords:
    category_of: dict[str, str] = {}
    # The channel's own keywords first: a supervisor's word decides over a built-in one.
    for category, words in extra:
        for word in words:
            category_of.setdefault(fold(word).strip(), category)
    for category, words in BUILTIN_KEYWORDS.items():
        for word in words:
            category_of.setdefault(fold(word), category)
    category_of.pop("", None)
    alternatives = sorted(category_of, key=len, reverse=True)
    return _Keywords(
        pattern=re.compile("|".join(_keyword_pattern(word) for word in alternatives)),
        category_of=category_of,
        latin_words=[word for word in category_of if re.fullmatch(r"[a-z]{5,}", word)],
    )


def _extra_key(keywords_extra: Mapping[str, Any] | None) -> tuple:
    if not keywords_extra:
        return ()
    known = set(Category.values)
    return tuple(
        sorted(
            (category, tuple(str(word) for word in words if isinstance(word, str)))
            for category, words in keywords_extra.items()
            if category in known and isinstance(words, list | tuple)
        )
    )


# A keyword found counts 2 for its category, with two exceptions. Size words count 1:
# "size M still available?" asks about stock, "M码" only names what is asked for. Words that
# ask whether something is still there count 1.5: alone or with a size they are about stock,
# next to a coupon or a courier they ask about that ("coupon still available?" is a promo).
KEYWORD_WEIGHT = 2.0
SIZE_KEYWORD_WEIGHT = 1.0
AVAILABILITY_WEIGHT = 1.5
AVAILABILITY_WORDS = frozenset(
    fold(word)
    for word in (
        "还有吗", "还有没有", "还有多少", "还剩", "available", "left", "masih ada", "ada lagi",
        "lagi",
        "tersedia", "còn không", "มีของ", "มีของไหม",
    )
)  # fmt: skip
# A Latin word this close (rapidfuzz ratio) to a one-word keyword counts as it, when the
# text has no keyword as written ("shiping" → "shipping").
KEYWORD_TYPO_SCORE = 85


def categorise(text: str, *, keywords_extra: Mapping[str, Any] | None = None) -> str:
    """The category with the most keyword weight in the text; "other" when none match."""
    keywords = _keywords(_extra_key(keywords_extra))
    folded = fold(text)
    found = [match.group() for match in keywords.pattern.finditer(folded)]
    if not found:
        found = [
            word
            for token in _LATIN_WORD.findall(folded)
            if (word := _keyword_for_typo(token, keywords))
        ]
    if not found:
        return Category.OTHER
    weights: dict[str, float] = {}
    for word in found:
        category = keywords.category_of[word]
        if word in AVAILABILITY_WORDS:
            weight = AVAILABILITY_WEIGHT
        elif category == Category.SIZE:
            weight = SIZE_KEYWORD_WEIGHT
        else:
            weight = KEYWORD_WEIGHT
        weights[category] = weights.get(category, 0) + weight
    return max(CATEGORY_ORDER, key=lambda category: (weights.get(category, 0), -_rank(category)))


def _keyword_for_typo(token: str, keywords: _Keywords) -> str | None:
    if len(token) < 5 or token in _ENGLISH:
        return None
    best = process.extractOne(
        token, keywords.latin_words, scorer=fuzz.ratio, score_cutoff=KEYWORD_TYPO_SCORE
    )
    return best[0] if best else None


def _rank(category: str) -> int:
    return CATEGORY_ORDER.index(category)


# --- The product asked about ------------------------------------------------------------

_CHINESE_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CHINESE_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int | None:
    """一 … 九十九 (and 一百 … 九百九十九) as an int; None for anything else."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in _CHINESE_DIGITS:
            current = _CHINESE_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


_NUM = r"(\d{1,3}|[一二两三四五六七八九十]{1,3})"
# Ways viewers name a link (链接号): "3号链接", "链接3", "三号", "第3个", "#3", "link 3",
# "no. 3", "nombor 3", "ลิงก์ 3", "số 3". "几号" (which day) is no link; "42码" is a size.
LINK_PATTERN = re.compile(
    rf"(?<![\d月]){_NUM}\s*号\s*(?:链接|商品|宝贝)?(?!码)"
    rf"|(?:链接|宝贝)\s*{_NUM}(?![\d码])"
    rf"|第\s*{_NUM}\s*(?:个|号)\s*(?:链接|商品|宝贝)?"
    r"|#\s*(\d{1,3})(?!\d)"
    r"|\b(?:link|item|product|no|number|nombor|nomor|số)\b\s*(?:no\.?|number|#|số)?\s*\.?\s*"
    r"(\d{1,3})(?![\d.,]?\d|[a-z]|\s*(?:kg|cm|ml|k|pcs|x)\b)"
    r"|(?:ลิงก์|ลิงค์|ลิ้งค์)\s*(?:ที่)?\s*(\d{1,3})(?!\d)"
)


def link_references(text: str) -> list[int]:
    """Every link number the text names, in order (before checking them against a lineup)."""
    numbers = []
    for match in LINK_PATTERN.finditer(fold(text)):
        value = next(group for group in match.groups() if group)
        number = chinese_number(value)
        if number is not None and 0 < number < 1000:
            numbers.append(number)
    return numbers


def strip_link_references(text: str) -> str:
    """The text without its link references: "3号链接多少钱" → " 多少钱"."""
    return LINK_PATTERN.sub(" ", text)


@dataclass(frozen=True)
class LineupEntry:
    link_number: int
    sku: str
    name: str


@dataclass(frozen=True)
class _ProductIndex:
    links: frozenset[int]
    skus: dict[str, int]
    names: dict[str, int]
    aliases: dict[str, int]


# Whole product names are matched with rapidfuzz's partial ratio, so a typo still finds
# them ("face creme" → "Face cream"): 85 allows one wrong letter in a name of about seven.
NAME_SCORE_CUTOFF = 85
# Shorter names match too much by chance ("ok" is in "look book").
NAME_MIN_LENGTH = 4

_GENERIC_NAME_WORDS = frozenset(
    _words(
        "新款 女款 男款 款 套装 正品 链接 宝贝 商品 专用 加厚 同款 官方 旗舰",
        "the and for with of set new pack",
    )
)


@lru_cache(maxsize=128)
def _product_index(lineup: tuple[LineupEntry, ...]) -> _ProductIndex:
    """Lookups for a lineup: SKUs, whole names, and the name words only one product has."""
    skus: dict[str, int] = {}
    names: dict[str, int] = {}
    alias_owners: dict[str, set[int]] = {}
    for entry in lineup:
        if entry.sku and len(entry.sku) >= NAME_MIN_LENGTH:
            skus[fold(entry.sku)] = entry.link_number
        name = fold(entry.name).strip()
        if len(name) >= NAME_MIN_LENGTH:
            names[name] = entry.link_number
        for word in _name_words(name):
            alias_owners.setdefault(word, set()).add(entry.link_number)
    aliases = {
        word: next(iter(owners))
        for word, owners in alias_owners.items()
        if len(owners) == 1 and word not in names
    }
    return _ProductIndex(
        links=frozenset(entry.link_number for entry in lineup),
        skus=skus,
        names=names,
        aliases=aliases,
    )


def _name_words(name: str) -> set[str]:
    """Distinctive words of a product name: Latin words of 4+ letters, Chinese words of 2+."""
    words = set()
    for word in re.findall(r"[a-zà-ɏḀ-ỿ]{4,}", name):
        words.add(word)
    for run in _HAN_RUN.findall(name):
        words.update(token for token in segment(run) if len(token) >= 2)
        # The head noun of a Chinese product name comes last: "高腰阔腿裤" is a 阔腿裤.
        words.update(run[-length:] for length in (2, 3, 4) if len(run) > length)
    return words - _GENERIC_NAME_WORDS


_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")


def match_product(text: str, lineup: Sequence[Any]) -> int | None:
    """The link number of the lineup item the text is about, or None.

    A named link number counts when the lineup has it (or there is no lineup to check);
    then an exact SKU; then a whole product name, typos allowed; then a name word that only
    one product has ("羽绒服" in "羽绒服什么码" for "白鸭绒轻薄羽绒服").
    """
    entries = _lineup_entries(lineup)
    index = _product_index(entries) if entries else None
    for number in link_references(text):
        if index is None or number in index.links:
            return number
    if index is None:
        return None
    folded = fold(text)
    for sku, link_number in index.skus.items():
        if sku in folded:
            return link_number
    if index.names and len(folded) >= NAME_MIN_LENGTH:
        candidates = [name for name in index.names if len(name) <= len(folded)]
        best = process.extractOne(
            folded, candidates, scorer=fuzz.partial_ratio, score_cutoff=NAME_SCORE_CUTOFF
        )
        if best is not None:
            return index.names[best[0]]
    found = {link for alias, link in index.aliases.items() if alias in folded}
    return found.pop() if len(found) == 1 else None


def product_words(lineup: Sequence[Any]) -> frozenset[str]:
    """The words of the lineup's product names, folded: what grouping leaves out of a
    question, since the link number already says which product it is about."""
    entries = _lineup_entries(lineup)
    if not entries:
        return frozenset()
    index = _product_index(entries)
    return frozenset(index.names) | frozenset(index.aliases)


def _lineup_entries(lineup: Sequence[Any]) -> tuple[LineupEntry, ...]:
    if not lineup:
        return ()
    if isinstance(lineup, tuple) and all(isinstance(item, LineupEntry) for item in lineup):
        return lineup
    return tuple(
        LineupEntry(link_number=item.link_number, sku=item.sku or "", name=item.name or "")
        for item in lineup
    )


# --- Blocked words and muted viewers ----------------------------------------------------


def silenced(
    text: str,
    user_id: str,
    *,
    blocked_words: Iterable[str] = (),
    muted_users: Collection[str] = frozenset(),
) -> bool:
    """A comment that must never become a question: a muted viewer, or a blocked word."""
    if user_id in muted_users:
        return True
    folded = fold(text)
    return any(word and fold(word) in folded for word in blocked_words)


# --- All together -----------------------------------------------------------------------


@dataclass(frozen=True)
class Triage:
    is_question: bool
    category: str
    language: str
    link_number: int | None


def classify(
    text: str,
    *,
    keywords_extra: Mapping[str, Any] | None = None,
    lineup: Sequence[Any] = (),
) -> Triage:
    """Judge one comment. `keywords_extra` is the channel's SupportPolicy.keywords;
    `lineup` the stream's lineup items (anything with link_number, sku and name)."""
    return Triage(
        is_question=looks_like_question(text),
        category=categorise(text, keywords_extra=keywords_extra),
        language=detect_language(text),
        link_number=match_product(text, lineup),
    )
