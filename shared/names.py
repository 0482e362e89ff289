"""Where a private person's full name sits in free text, found by its cues: `privacy` masks it.

Precision comes first: complaint text is full of places, streets, companies and words that
begin with a surname character (王府井, 李村街道, 高温, 周末), so a name is only looked for
where the wording says a person is named: after 我叫/联系人/业主/邻居/隔壁…, or right before
a courtesy title (王建国先生). A surname with a title alone (王先生, 老王) names nobody and is
left as typed; so are officials named with their role (社区书记贾振, 张主任), who act in public.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The common single surnames, less a few that are mostly prepositions or adverbs where a cue
# stands before them (居民向社区…, 本人于近日…, 邻居和…, 业主时常…): a name with one of those
# after a cue is missed, which costs less than masking every "向物业".
SINGLE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶"
    "黎贺顾毛郝龚邵万钱严覃武戴莫孔汤常康易乔赖文施洪牛庞樊殷兰柳齐葛卞柏左鲁倪焦苗俞章裴"
    "岳蒙霍甘祝包翟阮聂祁尚瞿温鲍连凌柯耿管卓屈房艾童纪舒蓝邢宁欧仇骆滕丘栾褚单车关商伍荣"
    "穆邬毕宫匡胥谷佟蔺岑冉扈靳景晏丛隋解简饶郁全米盛钮褚项柴边宗储池戚申曲窦符桂习"
)
COMPOUND_SURNAMES = _words(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 "
    "端木 独孤 南宫 呼延 万俟 闻人 东郭 公冶 太叔 申屠 澹台 公羊 濮阳 淳于 单于 "
    "钟离 宗政 赫连 拓跋 梁丘 左丘 司空 司寇 子车 颛孙 巫马 公西 漆雕 乐正 壤驷 "
    "谷梁 宰父 夹谷 段干 鲜于 闾丘 亓官 公良 西门 仉督 羊舌 微生 呼衍 完颜 耶律 "
    "北宫 南郭 公仪 即墨 东野 公户 公玉 司城"
)
# Before a courtesy title they read as surnames again (于建华女士).
_TITLE_ONLY_SURNAMES = frozenset("于向和时")
_BEFORE_TITLE_SURNAMES = SINGLE_SURNAMES | _TITLE_ONLY_SURNAMES
# The most common surnames: "向王先生反映" is Mr Wang, not a Mr 向王.
COMMON_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺"
    "顾毛郝龚邵万钱严覃武戴莫孔汤"
)

# What says "the next words are a person's name".
_CUES = _words(
    "我的名字叫 我的名字是 名字叫 名字是 我叫 我是 本人 姓名 名叫 叫做 联系人 业主 "
    "住户 租户 租客 房东 房主 户主 居民 村民 党员 家属 邻居 隔壁 楼上 楼下 对门 "
    "对面"
)
# Courtesy titles: the name before one is a private person's (officials' titles are not here).
_TITLES = _words(
    "先生 女士 小姐 师傅 阿姨 大爷 大妈 大娘 大姐 大哥 大叔 大伯 大婶 奶奶 爷爷 "
    "老太太 老太 老先生 老师 同志 阿婆 婆婆 叔叔 伯伯 婶婶 姐姐 哥哥 老板 老板娘 "
    "医生 律师 经理"
)
# A cue inside another word is none: 物业主任, 客户主管, 根本人.
_NOT_A_CUE = r"(?<!物(?=业主))(?<![客用住商农](?=户主))(?<![根日](?=本人))"
# The look-ahead at the cues' first characters lets the search skip the other positions
# before it tries the look-behinds (about 3x faster on a typical complaint).
_CUE = re.compile(
    "(?=["
    + "".join(sorted({cue[0] for cue in _CUES}))
    + "])"
    + _NOT_A_CUE
    + "(?:"
    + "|".join(sorted(_CUES, key=lambda cue: (-len(cue), cue)))
    + ")"
    r"(?:代表|家属|家的|的)?[\s:：]*(?:是|为|叫|姓名[:：]?)?\s*"
)
_TITLE = re.compile("|".join(sorted(_TITLES, key=lambda title: (-len(title), title))))
_SURNAME_GIVEN = re.compile(r"姓([\u4e00-\u9fff])[，,、\s]*名(?:叫|字叫|字是)?")

# Characters a given name hardly ever holds, but which follow a name or a cue all the time:
# verbs of saying and complaining, time words, pronouns, kin and title characters, rooms.
_STOP = frozenset(
    "的了着过吗呢吧啊呀哦嘛说称讲道问答反投诉报打来去到在是有和与及跟同等们今昨前后每年日时半"
    "分经总又也都就还却不没未已曾要想把被给让向对从于住租买卖所私占堆放养装拆乱将会能可因为"
    "之带找上下里外这那此该其某夫妻父母先师阿奶爷叔姐哥婶姨嫂弟妹伯舅多几个位名户门楼室号"
    "单层电手微家内旁边侧附近左右我你他她它自己本当即近晚早凌午夜才再很太最更并且而人认表"
    "处但或如若虽然以使请帮需必应得地见看听叫喊骂吵闹噪扰污用停车记氏一二三四五六七八九十百千"
    # and nouns' second characters that no given name uses (商店, 车站, 全身, 高速, 文件…)
    "头体皮身面线品球陵职种节场片灰条族备灯衣制轮防热式质油药委物教牌集色术数台队须者器务"
    "象性官科尾蹄机标底酒拉榴岛细部眼战情炭角状蜡末期吨针库历肉料存刀牙略调径毒话笔果船环"
    "血炮套块屋气型鱼载鼠况篇句息次难间论囊架件斑土网领约卷戏湾亩岁境围非站膏丝股币差形袍加"
    "蓄题辱脉脚腔坛棉选目蛇杯鸡唱像实办例射价座秘压纺字费粒氨枪粉鼓谱厂亿卡糖轴倍团院床运社"
    "袋粮编材织坡弹度店馆铺厅局所校司组会"
)
# A candidate that ends in, or is followed by, one of these is a place or an organisation.
_PLACE_IN_NAME = frozenset("路街巷村庄屯堡寨镇乡县市区省州府苑厦营胡")
_PLACE_AFTER = frozenset("路街巷村庄屯堡寨镇乡县市区省州府苑园院厦城营口桥湖河岭道弄店人")
_ORG_AFTER = _words(
    "物业 公司 集团 小区 社区 街道 大街 中心 医院 学校 商场 超市 广场 大厦 花园 "
    "家园 公园 新村 管委 委员 工作 派出 居委 村委 办事 银行 酒店 饭店 宾馆 市场 "
    "大学 中学 小学 幼儿 一带 麻辣 烧烤 火锅 饭馆 面馆 餐厅 餐馆 便利 药店 药房 "
    "诊所 水果 蔬菜 烟酒 五金 理发 美发 洗车 快递 驿站 酒家 酒楼 食品"
)
# Words that begin with a surname character and follow a cue word in complaint wording.
WORDS = _words(
    "王者 王府 王府井 王牌 王国 王子 王道 李子 李村 张贴 张家口 张望 张开 张口 "
    "张罗 张扬 张力 刘庄 陈旧 陈列 陈述 陈设 杨树 杨柳 黄色 黄河 黄金 黄昏 黄土 "
    "黄沙 黄瓜 黄牌 黄页 赵庄 吴江 周末 周边 周围 周一 周二 周三 周四 周五 周六 "
    "周日 周年 周期 周转 周到 周全 周报 周内 周岁 徐徐 孙子 孙女 孙辈 马路 马上 "
    "马桶 马达 马家堡 马虎 马甲 马路边 胡同 胡乱 胡说 胡闹 胡子 郭庄 何时 何处 "
    "何况 何必 高温 高层 高楼 高空 高新 高新区 高速 高度 高压 高峰 高档 高价 "
    "高级 高中 高考 高处 高低 高铁 高架 高兴 高效 高额 林业 林地 林木 罗列 郑重 "
    "梁上 谢谢 宋体 唐突 许多 许可 许久 韩国 冯庄 邓庄 曹庄 彭庄 曾经 曾有 肖像 "
    "田地 田间 董事 董事会 袁庄 潘庄 蒋庄 蔡庄 余额 余下 余款 杜绝 叶子 程序 "
    "程度 苏醒 魏庄 吕庄 丁字 丁点 任何 任意 任务 任由 任凭 沈阳 姚庄 卢沟 姜汤 "
    "崔庄 钟点 钟表 钟头 谭庄 陆续 陆地 汪汪 范围 范畴 金水 金水区 金额 金钱 "
    "金属 金融 石头 石子 石板 石材 石桌 石凳 石块 石油 廖庄 贾庄 夏天 夏季 夏日 "
    "韦庄 付款 付费 付钱 付出 傅庄 方便 方面 方案 方向 方式 方法 方位 方才 方能 "
    "方圆 白天 白色 白日 白班 白菜 邹庄 孟庄 熊孩子 秦庄 邱庄 江边 江水 尹庄 "
    "薛庄 闫庄 段落 雷雨 雷电 雷声 侯庄 龙头 龙门 史上 陶瓷 黎明 贺卡 顾客 顾及 "
    "顾虑 毛病 毛巾 毛坯 郝庄 龚庄 邵庄 万元 万一 万分 万能 钱款 钱财 严重 严格 "
    "严禁 严厉 严寒 武汉 武装 戴着 莫名 孔洞 汤圆 常年 常常 常住 常规 常态 常用 "
    "常见 康复 康养 易燃 乔迁 齐全 齐心 文明 文化 文件 文字 文体 文艺 温度 温暖 "
    "温馨 温水 连续 连夜 连日 连着 连接 连忙 单元 单位 单独 单身 单据 单车 单价 "
    "车位 车库 车辆 车子 车棚 车道 车主 车窗 关系 关心 关注 关于 关闭 关掉 关门 "
    "关键 商户 商铺 商量 商家 商场 商业 宁可 宁愿 管理 管道 管子 管网 管线 房屋 "
    "房子 房间 房东 房顶 房租 房产 房价 房本 纪委 舒适 舒服 童车 毕竟 宫殿 荣誉 "
    "包括 包裹 包装 包庇 全部 全体 全面 盛夏 边上 池塘 申请 申报 申诉 曲折 符合 "
    "习惯 兰州 柳树 解决 解释 简直 简单 饶恕 全天 项目 柴油 宗旨 储藏 储物 戚属 "
    "米面 景观 扈从 靳庄 殷切 庞大 樊庄 牛奶 施工 洪水 洪涝 赖账 赖着 易于 康庄 "
    "强烈 祝愿 甘心 包头 卞庄 柏油 鲁莽 焦急 苗木 苗圃 俞庄 章程 岳父 岳母 蒙古 "
    "霍乱 翟庄 阮庄 聂庄 祁连 尚未 尚且 尚有 瞿庄 鲍庄 凌晨 凌乱 柯庄 耿直 卓越 "
    "屈服 艾草 童年 纪念 纪律 舒展 蓝色 蓝天 邢台 宁夏 欧洲 仇恨 骆驼 滕州 丘陵 "
    "伍庄 穆斯林 邬庄 毕业 宫庄 匡庄 谷子 谷物 佟庄 靳庄 景区 景点 晏庄 丛林 "
    "隋庄 郁闷 米饭 盛开 钮扣 边界 边缘 宗教 池子 曲线 窦庄 桂花 习近平 东方红 "
    "上官庄 西门口 南门口 第五 百里 公孙树 司机 长孙 唐山 秦皇岛 江苏 江西 甘肃 "
    "常州 苏州 温州 郑州 徐州 柳州 贺州 黄山 黄冈 黄石 金华 马鞍山 石家庄 石景山 "
    "房山 宁波 宁德 连云港 曲靖 焦作 许昌 周口 商丘 濮阳 万州 邵阳 岳阳 高龄 "
    "全科 连锁 车间 车行 房管 石匠 纪检 东方明珠 高三 高一 高二 房主 万科 万达 金地 "
    "金科 龙湖 蓝光 鲁能 苏宁 申通 高德 汤臣 高音 高大 高跟 高分贝 高清 高手 高端 高个 "
    "高利贷 高血压 高校 高原 高危 高位 高频 高分 高声 高调 高喊 高呼 全国 全民 全力 全新 "
    "全程 全权 全城 全文 全盘 全方位 江南 江北 商城 商议 商定 商讨 商贸 严肃 严密 严峻 "
    "严谨 严惩 严酷 严明 严守 高出 高涨 高产 高举 高贵 高法 高检 盛行 盛大 解除 解开 "
    "解散 解读 解脱 解析 解救 关联 关切 关口 关照 关押 关爱 关税 常设 常识 常驻 常任 "
    "单纯 单行 单词 单项 单方面 简介 简化 简易 简陋 简洁 简明 简便 简短 文章 文学 文书 "
    "文凭 文联 文盲 方言 尚无 连连 连声 连任 连结 连累 任免 任命 管辖 管事 施行 施展 "
    "包含 包袱 包扎 焦点 焦虑 焦躁 温柔 温饱 甘愿 何故 何事 何尝 何苦 何方 车厢 车程 "
    "车票 车长 万事 万余 万万 边疆 边际 边沿 毕生 金子 白纸 黄豆 房舍 石化 武警 欧元 "
    "宫中 江湖 高山 江山 白马 黄花 龙井 江河 万民"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
# What may stand right before a name that has no cue but a title after it ("联系王建国先生").
_BEFORE_NAME = _STOP | frozenset("系人员主户")


def _is_given(char: str) -> bool:
    return bool(_CJK.fullmatch(char)) and char not in _STOP


def _surname_at(text: str, at: int, single: frozenset[str] = SINGLE_SURNAMES) -> int:
    """The length of the surname starting at `at`: 2, 1, or 0 if none starts there."""
    if text[at : at + 2] in COMPOUND_SURNAMES:
        return 2
    return 1 if text[at : at + 1] in single else 0


def _is_a_name(text: str, start: int, surname: int, end: int) -> bool:
    """Whether text[start:end], a surname of length `surname` and a given name, reads as a
    person's name rather than a word, a place or an organisation."""
    name, after = text[start:end], text[end : end + 2]
    given = name[surname:]
    if not given or not all(map(_is_given, given)):
        return False
    if name in WORDS or name[: surname + 1] in WORDS or name + after[:1] in WORDS:
        return False
    if any(char in _PLACE_IN_NAME for char in given) or after[:1] in _PLACE_AFTER:
        return False
    return after not in _ORG_AFTER


def _name_after_cue(text: str, at: int) -> int:
    """The end of a full name starting at `at` (a surname and one or two given characters),
    or `at` if none does."""
    surname = _surname_at(text, at)
    if not surname:
        return at
    given_at = at + surname
    if (
        surname == 1
        and text[given_at : given_at + 1] in COMMON_SURNAMES
        and _TITLE.match(text, given_at + 1)
    ):
        return at  # "向王先生": the title belongs to the second surname
    end = given_at
    while end < given_at + 2 and end < len(text) and not _TITLE.match(text, end):
        if not _is_given(text[end]):
            break
        end += 1
    # "张伟天天在…": the second character starts a doubled word, not the name.
    if end - given_at == 2 and text[end - 1 : end] == text[end : end + 1] != text[given_at]:
        end -= 1
    # Only the longest reading counts: "杨国福麻辣烫" is a shop, and 杨国 is no name in it.
    return end if end > given_at and _is_a_name(text, at, surname, end) else at


def _name_before_title(text: str, title_at: int) -> tuple[int, int] | None:
    """A full name ending right before the courtesy title at `title_at`, if one is there."""
    for length in (4, 3, 2):
        start = title_at - length
        if start < 0:
            continue
        surname = _surname_at(text, start, _BEFORE_TITLE_SURNAMES)
        given = length - surname
        if not surname or not 1 <= given <= 2:
            continue
        if (
            surname == 1
            and text[start + 1] in COMMON_SURNAMES
            and (given == 1 or text[start] in _TITLE_ONLY_SURNAMES)
        ):
            continue  # "向王先生" is Mr Wang, "和李明先生" is Mr Li Ming
        before = text[start - 1] if start else ""
        if before and _CJK.fullmatch(before) and before not in _BEFORE_NAME:
            continue  # the candidate starts inside a word ("周末王先生")
        if _is_a_name(text, start, surname, title_at):
            return start, title_at
    return None


def given_name_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans to mask in `text`: each private person's full name but its
    first character (欧阳秀兰 → 欧***, as `privacy.mask_name` shows a name), in order."""
    spans: list[tuple[int, int]] = []
    for cue in _CUE.finditer(text):
        at = cue.end()
        end = _name_after_cue(text, at)
        # "业主王建国、李秀英反映": a list of names after one cue.
        while end > at:
            spans.append((at + 1, end))
            if text[end : end + 1] not in ("、", "和", "与", "及"):
                break
            at = end + 1
            end = _name_after_cue(text, at)
    for found in _SURNAME_GIVEN.finditer(text):  # "姓张名伟": the given name stands alone
        end = found.end()
        while end < found.end() + 2 and end < len(text) and _is_given(text[end]):
            end += 1
        if end > found.end():
            spans.append((found.end(), end))
    for title in _TITLE.finditer(text):
        name = _name_before_title(text, title.start())
        if name:
            spans.append((name[0] + 1, name[1]))
    return sorted(set(spans))
