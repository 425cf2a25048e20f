"""Default word lists for label extraction (paper section 4.2; docs/design.md, "Labels").

Edit these tables, or pass your own synonym file (``--synonyms FILE``), to adapt the
extraction to a shop's vocabulary. Words are compared after lower-casing and plural
normalization (``labels.normalize_token``).
"""

# A standard English stop-word list (function words that never describe an item),
# less "off", which titles use in attributes ("off-white", "off-shoulder").
ENGLISH_STOP_WORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "down", "during", "each", "either", "else", "etc", "ever", "every", "few", "for", "from", "further", "get", "got", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "least", "less", "let", "like", "many", "may", "me", "might", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not", "now", "of", "often", "on", "once", "one", "only", "or", "other", "others", "our", "ours", "ourselves", "out", "over", "own", "per", "perhaps", "please", "quite", "rather", "really", "same", "shall", "she", "should", "since", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "via", "was", "we", "well", "were", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with", "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves", "amp", "quot", "nbsp"])

# Shop noise: words of listings that say nothing about what an item looks like.
# Gender and age words (women, men, girls, boys, kids, baby) are kept: they are labels
# in the paper (Figure 9: "Girls", "Women", "Boys", "Toddler").
SHOP_NOISE_WORDS = frozenset(["new", "brand", "brands", "item", "items", "product", "products", "free", "shipping", "sale", "gift", "gifts", "quality", "best", "great", "top-quality", "fashion", "fashionable", "style", "stylish", "trendy", "hot", "cheap", "pack", "pc", "pcs", "piece", "pieces", "set", "sets", "lot", "lots", "inch", "inches", "cm", "mm", "ft", "oz", "lb", "lbs", "kg", "g", "x", "xs", "xl", "xxl", "xxxl", "s", "m", "l", "size-s", "size-m", "size-l"])

STOP_WORDS = ENGLISH_STOP_WORDS | SHOP_NOISE_WORDS

# Category-path roots that every item of a store shares (Amazon's department name);
# they are removed before tokenizing because they describe the store, not the item.
ROOT_CATEGORIES = frozenset({
    "clothing, shoes & jewelry",
    "clothing, shoes and jewelry",
    "amazon fashion",
})

# Plurals that are the item's own name (a pair of jeans is "jeans"), never singularized.
PLURAL_INVARIANTS = frozenset(["flip-flops", "jeans", "pants", "shorts", "leggings", "tights", "trousers", "sweatpants", "joggers", "capris", "culottes", "chinos", "khakis", "slacks", "overalls", "dungarees", "pajamas", "pyjamas", "briefs", "boxers", "panties", "knickers", "trunks", "bloomers", "jodhpurs", "scrubs", "glasses", "sunglasses", "eyeglasses", "goggles", "suspenders", "sweats", "clothes", "series", "species", "news", "plus", "canvas", "tennis", "paris", "chassis", "iris", "analysis"])

# Irregular forms and canonical gender words (the paper's labels are "Women", "Girls").
IRREGULAR_FORMS = {
    "woman": "women", "womens": "women", "womans": "women",
    "man": "men", "mens": "men",
    "girl": "girls", "boy": "boys", "kid": "kids",
    "babies": "baby", "toddlers": "toddler",
    "scarves": "scarf", "wolves": "wolf", "leaves": "leaf", "halves": "half",
    "knives": "knife", "calves": "calf", "bras": "bra", "lenses": "lens",
    "tutus": "tutu", "jean": "jeans", "legging": "leggings", "pant": "pants",
    "trouser": "trousers", "capri": "capris", "pajama": "pajamas", "sunglass": "sunglasses",
    "flip-flop": "flip-flops",
    "feet": "foot", "teeth": "tooth", "mice": "mouse",
}

# Singulars ending in -ie, so "hoodies" -> "hoodie" and not "hoody".
IE_SINGULARS = frozenset(["hoodie", "beanie", "bootie", "onesie", "tie", "necktie", "bowtie", "pixie", "selfie", "cookie", "rookie", "cardie", "lingerie", "undie", "movie", "zombie", "brownie", "sweetie", "goalie"])

# word -> canonical label, merged after the min_count step (paper section 4.2).
DEFAULT_SYNONYMS = {
    "tee": "t-shirt",
    "tshirt": "t-shirt",
    "grey": "gray",
    "colour": "color",
    "jewellery": "jewelry",
    "pyjamas": "pajamas",
    "hoody": "hoodie",
    "trainer": "sneaker",
    "jumper": "sweater",
    "cami": "camisole",
}
