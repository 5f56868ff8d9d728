"""Folding near-duplicate questions into one group, across wording, typos, emoji and languages.

A question becomes an `Analysis`:
1. normalised: NFKC, lower case, link references ("3号链接", "link 3") removed (the link
   number is matched separately), emoji and punctuation stripped, a character repeated
   three or more times kept once ("啊啊啊" → "啊", "sooo" → "so");
2. measures pulled out as exact tokens: weights ("50kg", "100斤" and "一百斤" all become
   `=50kg`), heights (`=165cm`, also from "1米65"), garment sizes (`=m` from "M码",
   "size M"), shoe sizes (`=38码`). Questions with different measures get different
   answers ("50 kg?" is M, "60 kg?" is L), so they never fold;
3. the rest segmented (jieba for Chinese, the lexicon for Thai, words for Latin scripts) and
   each word mapped to a concept shared by every language (尺码 / 码数 / size / saiz /
   ukuran / ไซส์ / cỡ → `@size`); a Latin word one or two letters off a lexicon word is
   taken for it ("szie" → `@size`, "shiping" → `@ship`); filler and question words are
   dropped; what is left is the residue.
Weak concepts — the ones that only restate a measure or a state ("还有" / "still
available" next to "coupon") — are dropped when a stronger concept is present, so "还有
优惠券吗" and "is the coupon still on?" both become `@coupon`.

Folding then looks only at the stream's recent open groups (CANDIDATES_PER_CATEGORY) of the
same category, the same product (link number, or none), the same measures and the same
concepts; among those, rapidfuzz (`process.extractOne` with a score cutoff) compares the
residue, so typos in words the lexicon does not know still fold. A residue on one side only
is no disagreement ("order today, when ship?" joins "when will it ship"); two different
residues that do not match keep the questions apart ("ship to brunei?" / "ship to sabah?").
"""

import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from .triage import add_segmentation_words, chinese_number, fold, segment, strip_link_references

# Questions with the same concepts and measures fold when rapidfuzz's token-sort ratio of
# their leftover words is at least this. On the labelled chat (docs/benchmarks.md, "Support:
# grouping quality") every value from 50 to 100 gives the same figures: questions there
# that agree on concepts seldom both carry unknown words. 80 is reasoned, not measured: one
# or two wrong letters in a short word pass ("brunie" for "brunei" scores 83), different
# places do not ("sabah" against "brunei" scores 18).
FOLD_SCORE = 80
# Questions with no concept at all are compared on their leftover words alone, which carry
# less meaning per letter: only near-identical ones fold.
RESIDUE_ONLY_SCORE = 90
# A Latin word this close (rapidfuzz ratio) to a lexicon word is read as that word. Measured
# on the labelled chat: 70–75 give the best recall (0.943 on the tuning set), 80 and above
# miss swapped letters ("szie" against "size" scores exactly 75), 60 reads unrelated words
# as lexicon words (0.927); precision stayed 1.0 throughout.
TYPO_SCORE = 75
TYPO_MIN_LENGTH = 4
# How many of a stream's open groups per category are candidates: the most recently asked.
# A question asked again after 200 newer groups of its category is asked as a new group,
# which an agent can merge; in exchange the matching cost per comment is bounded.
CANDIDATES_PER_CATEGORY = 200
SIGNATURE_MAX_LENGTH = 200

# --- The lexicon ------------------------------------------------------------------------

CONCEPTS: dict[str, tuple[str, ...]] = {
    "size": (
        "尺码", "码数", "码", "尺寸", "大小", "多大", "号码", "哪个码", "什么码", "几码",
        "size", "sizes", "sizing", "saiz", "ukuran", "ไซส์", "ไซซ์", "ขนาด", "cỡ",
        "kích thước",
    ),
    "fit": (
        "合身", "偏大", "偏小", "合适", "合不合适", "fit", "fits", "muat", "vừa", "พอดี",
    ),
    "weight": ("体重", "斤", "公斤", "重", "weight", "berat", "น้ำหนัก", "cân nặng"),
    "height": ("身高", "高", "tall", "height", "tinggi", "สูง", "chiều cao"),
    "length": ("长", "太长", "长度", "length", "long", "panjang", "ยาว", "dài"),
    "price": (
        "多少钱", "价格", "价钱", "价", "几块", "多钱", "钱", "什么价", "price", "prices",
        "cost", "costs", "harga", "ราคา", "giá", "到手价", "how much", "bao nhiêu tiền",
        "bao nhieu tien", "กี่บาท", "brp harga", "berapa harga", "hw much",
    ),
    "cheaper": (
        "便宜", "便宜点", "便宜一点", "优惠点", "cheap", "cheaper", "murah", "kurang",
        "ถูก", "ถูกลง", "rẻ", "rẻ hơn",
    ),
    "ship": (
        "发货", "发", "寄", "发出", "出货", "ship", "ships", "shipping", "shipped",
        "dispatch", "pos", "hantar", "kirim", "dikirim", "pengiriman", "penghantaran",
        "ส่ง", "จัดส่ง", "giao", "giao hàng", "gửi",
    ),
    "arrive": (
        "到", "到货", "送到", "能到", "arrive", "arrives", "arrival", "delivery", "deliver",
        "sampai", "ถึง", "tới", "đến",
    ),
    "when": (
        "什么时候", "啥时候", "几时", "几号", "几点", "多久", "几天", "哪天", "要几天",
        "when", "whens", "bila", "kapan", "เมื่อไหร่", "เมื่อไร", "กี่วัน", "khi nào",
        "bao giờ", "mấy ngày", "how long", "how many days", "what time", "berapa hari",
        "brp hari", "berapa lama", "khi nao", "bao gio",
    ),
    "ship_fee": (
        "包邮", "运费", "邮费", "免运费", "free shipping", "free ship", "shipping free",
        "shipping fee", "shipping cost", "postage", "ongkir", "pos percuma", "free postage",
        "ค่าส่ง", "ส่งฟรี", "freeship", "phí ship", "miễn phí ship",
    ),
    "courier": (
        "顺丰", "中通", "圆通", "韵达", "申通", "京东快递", "什么快递", "哪个快递", "courier",
        "jnt", "poslaju", "ninja van", "kerry", "flash express",
    ),
    "cod": ("货到付款", "cod", "cash on delivery", "bayar di tempat", "ship cod"),
    "stock": (
        "有货", "现货", "库存", "没货", "缺货", "卖完", "售罄", "抢完", "断码",
        "领完", "抢光", "stock", "stok", "in stock", "ready stock", "sold out", "out of stock",
        "tersedia",
        "habis", "มีของ", "หมด", "ของหมด", "สต็อก", "còn hàng", "hết hàng", "hết",
    ),
    "restock": ("补货", "上新", "restock", "restocking", "replenish", "เติมของ", "về hàng"),
    "claim": (
        "领", "领取", "怎么领", "哪里领", "在哪领", "claim", "redeem", "get the", "ambil", "tebus",
        "dapatkan", "รับ", "เก็บโค้ด", "lấy", "lấy mã", "nhận mã",
    ),
    "how": (
        "怎么", "怎样", "如何", "how", "macam mana", "camne", "gimana", "cara", "ยังไง", "làm sao",
    ),
    "coupon": (
        "优惠券", "券", "优惠码", "红包", "coupon", "coupons", "voucher", "vouchers",
        "promo code", "code", "baucar", "kupon", "โค้ด", "คูปอง", "mã giảm giá", "mã",
    ),
    "discount": (
        "优惠", "折扣", "打折", "满减", "discount", "diskaun", "diskon", "potongan",
        "ส่วนลด", "giảm giá", "khuyến mãi",
    ),
    "gift": ("赠品", "送", "gift", "free gift", "hadiah", "ของแถม", "quà"),
    "lucky_bag": ("福袋", "lucky bag", "luckybag", "ถุงนำโชค", "túi may mắn"),
    "flash_sale": ("秒杀", "flash sale", "flash deal"),
    "return": (
        "退货", "退", "退换", "七天无理由", "无理由", "return", "returns", "pulangan",
        "retur", "คืน", "คืนสินค้า", "đổi trả", "trả hàng",
    ),
    "refund": ("退款", "refund", "refunds", "bayaran balik", "คืนเงิน", "hoàn tiền"),
    "exchange": ("换货", "换", "exchange", "tukar", "เปลี่ยน", "đổi", "đổi hàng"),
    "warranty": ("保修", "质保", "warranty", "garansi", "jaminan", "ประกัน", "bảo hành"),
    "damaged": ("坏了", "坏", "破损", "broken", "damaged", "rosak", "rusak", "เสีย", "hỏng"),
    "received": (
        "收到", "没收到", "还没收到", "收到货", "没收到货", "received", "receive", "terima",
        "diterima",
        "ได้รับ", "nhận", "nhận được",
    ),
    "material": (
        "材质", "面料", "材料", "料子", "布料", "什么料", "material", "materials", "fabric",
        "bahan", "kain", "ผ้า", "วัสดุ", "chất liệu", "vải",
    ),
    "cotton": ("纯棉", "棉", "cotton", "katun", "kapas", "ฝ้าย", "cotton 100"),
    "colour": (
        "颜色", "色", "色号", "colour", "colours", "color", "colors", "warna", "สี", "màu",
    ),
    "authentic": (
        "正品", "正版", "真的", "保真", "假货", "假的", "fake", "original", "authentic",
        "genuine", "ori", "asli", "ของแท้",
        "แท้", "chính hãng", "hàng thật", "real",
    ),
    "fade": ("掉色", "褪色", "fade", "fades", "fading", "luntur", "สีตก", "phai màu", "ra màu"),
    "stack": (
        "叠加", "一起用", "同时用", "stack", "together", "combine", "sekali", "gabung",
        "ใช้ร่วม", "dùng chung",
    ),
    "join": ("参加", "参与", "抢", "join", "participate", "masuk", "ikut", "เข้าร่วม", "tham gia"),
    "waterproof": ("防水", "waterproof", "kalis air", "กันน้ำ", "chống nước"),
    "how_to_use": ("怎么用", "用法", "how to use", "cara guna", "cara pakai", "ใช้ยังไง"),
    "ingredients": ("成分", "ingredients", "ingredient", "bahan aktif", "ส่วนผสม", "thành phần"),
    "sensitive": ("敏感肌", "敏感", "敏感皮", "sensitive", "sensitif", "แพ้ง่าย", "nhạy cảm"),
    "skin": ("皮", "皮肤", "肌", "skin", "kulit", "ผิว", "da"),
    "suitable": (
        "适合", "能用", "可以用", "suitable", "ok for", "can use", "sesuai", "boleh guna",
        "boleh pakai", "เหมาะ", "ใช้ได้", "phù hợp", "dùng được",
    ),
    "expiry": ("保质期", "有效期", "expiry", "expiration", "luput", "วันหมดอายุ", "hạn sử dụng"),
    "volume": ("容量", "毫升", "ml", "volume", "isi", "ปริมาณ", "dung tích"),
    "thickness": ("厚", "薄", "厚度", "thick", "thin", "tebal", "nipis", "หนา", "บาง", "dày"),
    "wash": (
        "机洗", "水洗", "洗", "wash", "washable", "machine wash", "cuci", "basuh", "ซัก", "giặt",
    ),
    "which_better": ("哪个好看", "哪个好", "which better", "which one", "mana lagi cantik"),
    "how_many": ("几个", "几种", "多少种", "how many", "berapa banyak", "กี่", "mấy"),
    "other": ("别的", "其他", "other", "another", "lain", "อื่น", "khác"),
    "next": ("下一个", "下个", "下一轮", "next", "seterusnya", "ถัดไป", "tiếp theo"),
    "open": ("开", "开奖", "open", "opens", "buka", "เปิด", "mở"),
    "avail": (
        "还有", "还", "还能", "有", "货", "剩", "还剩", "available", "avail", "still", "got",
        "any", "left", "remaining", "is there", "are there", "ada", "masih", "masih ada",
        "ada lagi", "ยัง", "ยังมี", "ยังใช้ได้", "còn",
    ),
}  # fmt: skip

# Concepts that only restate something a stronger word already says; dropped when a
# concept outside this set is present. "avail" becomes "stock" when it stands alone.
WEAK_CONCEPTS = frozenset(
    {"avail", "fit", "size", "weight", "height", "skin", "open", "how_many", "other", "suitable"}
    | {"price", "how"}
)
# A measure says what the words beside it say: "160cm" is a height, "M" a size.
MEASURE_CONCEPTS = {"kg": "weight", "cm": "height", "size:": "size", "码": "size"}
# Two concepts that together mean one: the price of shipping is the shipping fee.
# Whether a coupon or a lucky bag is gone is whether it is still on.
COMBINED_CONCEPTS = {
    frozenset({"ship", "price"}): "ship_fee",
    frozenset({"coupon", "stock"}): "coupon",
    frozenset({"lucky_bag", "stock"}): "lucky_bag",
    frozenset({"gift", "stock"}): "gift",
}

# Words that carry no intent here: question words and particles, greetings, pronouns,
# politeness, and product nouns (the link number already says which product).
STOPWORDS = frozenset(
    fold(word)
    for word in " ".join(
        (
            "吗 呢 啊 呀 吧 哦 哈 的 了 是 这个 那个 这款 这 那 亲 亲亲 宝宝 宝宝们 主播 姐",
            "姐姐 家人们 请问 想问 问 一下 问下 能 可以 会 要 还是 什么 怎么办 几 多少 哪 哪个",
            "哪里 谁 不 没 很 请 我 你 他 她 它 们 我们 嘛 么 和 跟 在 给 穿 用 吧 啦 呗 哇 嗯",
            "就 都 也 再 一点 点 下 上 些 个 件 款 人 有没有 是不是 能不能 可不可以 会不会 支持",
            "保证 方便 大概 现在 已经 今天 多 大 一个 上周 买 围巾 精华 裤子 羽绒服 衣服 外套",
            "产品 宝贝 东西 链接 号 买的 的话 呀呀 哦哦 嘿 嗨 快递 直播间 拍 下单 操作",
            "is are was were be the a an do does did can could will would should shall may",
            "might i me my you u your ur we our it its this that these those there here for to",
            "of on in at by with from and or but if so as any anything some what wat wht which",
            "how hw who why where pls plz please not haven havent belum tidak thanks thx ah ar",
            "lah la leh lor meh ya yeah ok okay sis kak dear boss shop hi hello hey can't",
            "cannot no yes yet now again more just also item product scarf serum pants trousers",
            "jacket dress shirt one tak ke ni ini itu berapa brp nak mau untuk utk saya aku",
            "boleh bisa gak nggak ga apa yg yang dah sudah lagi je jer ka kah dong sih nya pun",
            "macam mana camne gimana tu kalau pakai pake guna barang order sikit je mesin",
            "machine use wear get buy today now tonight sekarang hari request",
            "ไหม มั้ย มั๊ย ครับ ค่ะ คะ จ้า จ้ะ นะ อะไร ยังไง เท่าไหร่ เท่าไร ได้ มี สำหรับ ของ",
            "ที่ ไหน หรือ บ้าง คุณ แม่ค้า",
            "không ko khong có co được duoc bao nhiêu nhieu vậy vay shop ạ a ad chị em mình",
            "cho hỏi bạn là của thì nha nhé ơi sốp c",
        )
    ).split()
)


def _build_lexicon() -> tuple[dict[str, str], dict[str, str], dict[str, str], re.Pattern]:
    latin: dict[str, str] = {}
    han: dict[str, str] = {}
    thai: dict[str, str] = {}
    phrases: dict[str, str] = {}
    for concept, terms in CONCEPTS.items():
        for term in terms:
            term = fold(term)
            if " " in term:
                phrases.setdefault(term, concept)
            elif re.search(r"[\u0e00-\u0e7f]", term):
                thai.setdefault(term, concept)
            elif re.search(r"[\u3400-\u9fff]", term):
                han.setdefault(term, concept)
            else:
                latin.setdefault(term, concept)
    alternatives = sorted(phrases, key=len, reverse=True)
    phrase_pattern = re.compile(
        r"(?<![\w])(" + "|".join(re.escape(phrase) for phrase in alternatives) + r")(?![\w])"
    )
    _PHRASES.update(phrases)
    return latin, han, thai, phrase_pattern


_PHRASES: dict[str, str] = {}
_LATIN, _HAN_WORDS, _THAI_WORDS, _PHRASE_PATTERN = _build_lexicon()
_LATIN_STOP = frozenset(word for word in STOPWORDS if word.isascii())
_HAN_STOP = frozenset(word for word in STOPWORDS if re.search(r"[\u3400-\u9fff]", word))
_THAI_STOP = frozenset(word for word in STOPWORDS if re.search(r"[\u0e00-\u0e7f]", word))
_OTHER_STOP = STOPWORDS - _LATIN_STOP - _HAN_STOP - _THAI_STOP
_LATIN_KEYS = [word for word in _LATIN if len(word) >= TYPO_MIN_LENGTH]
_HAN_MAX = max(len(word) for word in [*_HAN_WORDS, *_HAN_STOP])
_THAI_MAX = max(len(word) for word in [*_THAI_WORDS, *_THAI_STOP])
# Question phrases with a space in them are read before the words: "how much" is @price.
_STOP_PHRASES = re.compile(r"(?<![\w])(or not|can i|do you|how to)(?![\w])")

add_segmentation_words(_HAN_WORDS)
add_segmentation_words(word for word in _HAN_STOP if len(word) > 1)


# --- Analysis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    concepts: frozenset[str]
    measures: tuple[str, ...]
    residue: tuple[str, ...]

    @property
    def signature(self) -> str:
        """What a group stores and later questions are compared with: "@a @b =m rest"."""
        parts = [f"@{c}" for c in sorted(self.concepts)] + [f"={m}" for m in self.measures]
        return " ".join(parts + list(self.residue))[:SIGNATURE_MAX_LENGTH].rstrip()

    @property
    def residue_text(self) -> str:
        return " ".join(self.residue)


def parse_signature(signature: str) -> Analysis:
    concepts, measures, residue = set(), [], []
    for token in signature.split():
        if token.startswith("@"):
            concepts.add(token[1:])
        elif token.startswith("="):
            measures.append(token[1:])
        else:
            residue.append(token)
    return Analysis(frozenset(concepts), tuple(sorted(measures)), tuple(sorted(residue)))


_SIZE_LABEL_UPPER = re.compile(r"(?<![A-Za-z'’])(XXXL|XXL|XL|XS|[2-5]XL|S|M|L)(?![A-Za-z'’])")
_SIZE_LABEL_LOWER = re.compile(
    r"(?<![a-z'’])(xxxl|xxl|xl|xs|[2-5]xl|s|m|l)\s*(?:码|号|size|saiz)"
    r"|(?:size|saiz|ไซส์|cỡ|size)\s*(xxxl|xxl|xl|xs|[2-5]xl|s|m|l)(?![a-z])"
)
_CN_NUM = "[一二两三四五六七八九十百]+"
_WEIGHT = re.compile(
    rf"(\d+(?:\.\d+)?|{_CN_NUM})\s*(kgs?|公斤|千克|斤|kilos?|กิโล(?:กรัม)?|ký|cân)(?![a-z])"
)
_HEIGHT = re.compile(r"(\d{3})\s*(?:cm|厘米|公分|ซม)|1\s*(?:米|m)\s*(\d{1,2})(?![\d.])")
# A bare number a height would be, in a question about size: "160穿什么码" means 160 cm.
_BARE_HEIGHT = re.compile(r"(?<![\d.])(1[4-9]\d)(?![\d.])")
_SHOE = re.compile(r"(?<!\d)(3\d|4[0-6])\s*码")
_NOISE_REPEAT = re.compile(r"(\D)\1{2,}")
_TOKEN = re.compile(r"@[a-z_]+|[\u3400-\u4dbf\u4e00-\u9fff]+|[\u0e00-\u0e7f]+|[a-zà-ɏḀ-ỿ]+|\d+")


def _measures(text: str) -> tuple[list[str], str]:
    found: list[str] = []

    def weight(match: re.Match) -> str:
        number = _number(match.group(1))
        if number is not None:
            kilos = number / 2 if match.group(2) == "斤" else number
            found.append(f"{round(kilos)}kg")
        return " "

    def height(match: re.Match) -> str:
        if match.group(1):
            found.append(f"{match.group(1)}cm")
        else:
            centimetres = match.group(2)
            found.append(f"1{centimetres.ljust(2, '0')}cm")
        return " "

    def shoe(match: re.Match) -> str:
        found.append(f"{match.group(1)}码")
        return " "

    text = _WEIGHT.sub(weight, text)
    text = _HEIGHT.sub(height, text)
    text = _SHOE.sub(shoe, text)
    return found, text


def _number(text: str) -> float | None:
    if text[0].isdigit():
        return float(text)
    number = chinese_number(text)
    return float(number) if number else None


def _strip_noise(text: str) -> str:
    """Emoji, punctuation and symbols become spaces; letters of every script stay."""
    kept = []
    for char in text:
        kind = unicodedata.category(char)
        kept.append(char if kind[0] in "LMN" or char == "@" else " ")
    return _NOISE_REPEAT.sub(r"\1", "".join(kept))


def analyse(text: str, *, product_words: frozenset[str] = frozenset()) -> Analysis:
    """Concepts, measures and residue of one question (see the module docstring).

    `product_words` are the words of the lineup's product names: the link number already
    says which product a question is about, so "阔腿裤多少钱" is read as "多少钱".
    """
    return _analyse(text, product_words)


@lru_cache(maxsize=50_000)
def _analyse(text: str, product_words: frozenset[str]) -> Analysis:
    # The same short questions come back hundreds of times a minute: the cache makes a
    # repeat cost one lookup.
    nfkc = unicodedata.normalize("NFKC", text)
    measures = []
    sized = _SIZE_LABEL_UPPER.sub(lambda m: _size_label(m, measures), nfkc)
    folded = strip_link_references(fold(sized))
    folded = _SIZE_LABEL_LOWER.sub(lambda m: _size_label(m, measures), folded)
    found, folded = _measures(folded)
    measures += found
    for word in sorted(product_words, key=len, reverse=True):
        folded = folded.replace(word, " ")
    folded = _strip_noise(folded)
    folded = _STOP_PHRASES.sub(" ", folded)
    folded = _PHRASE_PATTERN.sub(lambda m: f" @{_PHRASES[m.group(1)]} ", folded)

    concepts: set[str] = set()
    residue: list[str] = []
    numbers: list[str] = []
    for token in _TOKEN.findall(folded):
        if token.startswith("@"):
            concepts.add(token[1:])
        elif token[0].isdigit():
            numbers.append(token)
        elif "\u0e00" <= token[0] <= "\u0e7f":
            _read_words(token, _THAI_WORDS, _THAI_STOP, _THAI_MAX, concepts, None)
        elif "\u3400" <= token[0] <= "\u9fff":
            for word in segment(token):
                _read_words(word, _HAN_WORDS, _HAN_STOP, _HAN_MAX, concepts, residue)
        else:
            concept = _latin_concept(token)
            if concept:
                concepts.add(concept)
            elif len(token) > 1 and token not in _LATIN_STOP and token not in _OTHER_STOP:
                residue.append(token)
    if concepts & {"size", "height"}:
        for number in numbers:
            if _BARE_HEIGHT.fullmatch(number):
                measures.append(f"{number}cm")
                numbers.remove(number)
                break
    residue += numbers
    return Analysis(
        _essential(concepts, measures),
        tuple(sorted(set(measures))),
        tuple(sorted({word for word in residue if len(word) > 1})),
    )


def _essential(concepts: set[str], measures: list[str]) -> frozenset[str]:
    """The concepts that decide the answer: weak ones go when a strong one is there."""
    for measure in measures:
        for mark, concept in MEASURE_CONCEPTS.items():
            if measure.endswith(mark) or measure.startswith(mark):
                concepts.discard(concept)
    for pair, combined in COMBINED_CONCEPTS.items():
        if pair <= concepts:
            concepts = (concepts - pair) | {combined}
    strong = concepts - WEAK_CONCEPTS
    if strong:
        return frozenset(strong)
    if "avail" in concepts:
        concepts = (concepts - {"avail"}) | {"stock"}
    return frozenset(concepts)


def _size_label(match: re.Match, measures: list[str]) -> str:
    label = next(group for group in match.groups() if group)
    measures.append(f"size:{label.lower()}")
    return " " + match.group(0).replace(label, " ") + " "


def _read_words(
    text: str,
    words: dict[str, str],
    stop: frozenset[str],
    longest: int,
    concepts: set[str],
    residue: list[str] | None,
) -> None:
    """Forward maximum matching against the lexicon: the longest known word at each point.

    jieba has already split Chinese (with the lexicon's words added to its dictionary), so
    this mostly sees whole words; Thai, which has no spaces, is read entirely this way.
    Unknown Chinese words go to the residue; unknown Thai letters are dropped (a Thai
    syllable alone means little).
    """
    if text in words:
        concepts.add(words[text])
        return
    if text in stop:
        return
    start, unknown = 0, ""
    while start < len(text):
        for end in range(min(len(text), start + longest), start, -1):
            piece = text[start:end]
            if piece in words or piece in stop:
                if piece in words:
                    concepts.add(words[piece])
                if unknown and residue is not None:
                    residue.append(unknown)
                unknown = ""
                start = end
                break
        else:
            unknown += text[start]
            start += 1
    if unknown and residue is not None:
        residue.append(unknown)


@lru_cache(maxsize=20_000)
def _latin_concept(word: str) -> str | None:
    if word in _LATIN:
        return _LATIN[word]
    if word in _LATIN_STOP or len(word) < TYPO_MIN_LENGTH:
        return None
    best = process.extractOne(word, _LATIN_KEYS, scorer=fuzz.ratio, score_cutoff=TYPO_SCORE)
    return _LATIN[best[0]] if best else None


# --- Folding ----------------------------------------------------------------------------


class GroupIndex:
    """A stream's open groups that a new question may join, bucketed by category, product,
    measures and concepts. Built from the database once per batch of comments, then kept
    current as the batch adds groups, so a batch of duplicates makes one group, not many."""

    def __init__(self) -> None:
        self._buckets: dict[tuple, tuple[list[Hashable], list[str]]] = {}

    def add(
        self, group_id: Hashable, *, category: str, link_number: int | None, signature: str
    ) -> None:
        analysis = parse_signature(signature)
        ids, residues = self._buckets.setdefault(
            self._key(analysis, category, link_number), ([], [])
        )
        ids.append(group_id)
        residues.append(analysis.residue_text)

    def add_many(self, groups: Iterable[tuple[Hashable, str, int | None, str]]) -> None:
        """(id, category, link number, signature), most recently asked first."""
        for group_id, category, link_number, signature in groups:
            self.add(group_id, category=category, link_number=link_number, signature=signature)

    def find(
        self, analysis: Analysis, *, category: str, link_number: int | None
    ) -> Hashable | None:
        """The group this question belongs to, or None for a new group.

        Its concepts and measures must be the group's; among such groups rapidfuzz
        compares the residue (typos, words the lexicon does not know), and two questions
        with no residue match outright.
        """
        bucket = self._buckets.get(self._key(analysis, category, link_number))
        if bucket is None:
            return None
        ids, residues = bucket
        cutoff = FOLD_SCORE if analysis.concepts else RESIDUE_ONLY_SCORE
        best = process.extractOne(
            analysis.residue_text, residues, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff
        )
        if best is not None:
            return ids[best[2]]
        if not analysis.concepts:
            return None
        # A word the lexicon does not know on one side only is no disagreement: "when will
        # it ship" and "order today, when ship?" ask the same.
        if not analysis.residue:
            return ids[0]
        return ids[residues.index("")] if "" in residues else None

    @staticmethod
    def _key(analysis: Analysis, category: str, link_number: int | None) -> tuple:
        return (category, link_number, analysis.measures, analysis.concepts)
