"""Parts from which a generated city's names are composed: Beijing's 16 real districts, and
the syllables of streets, towns, communities, compounds and people (composed, not real lists)."""

from __future__ import annotations

import random

# code, name, slug, streets at scale 1.0 (343 in all), centre (lat, lon), urban (街道 and 社区)
DISTRICTS = [
    ("110101", "东城区", "dongcheng", 17, (39.929, 116.416), True),
    ("110102", "西城区", "xicheng", 15, (39.912, 116.366), True),
    ("110105", "朝阳区", "chaoyang", 43, (39.921, 116.486), True),
    ("110106", "丰台区", "fengtai", 26, (39.858, 116.287), True),
    ("110107", "石景山区", "shijingshan", 9, (39.906, 116.223), True),
    ("110108", "海淀区", "haidian", 29, (39.960, 116.298), True),
    ("110109", "门头沟区", "mentougou", 13, (39.940, 116.102), False),
    ("110111", "房山区", "fangshan", 28, (39.749, 116.143), False),
    ("110112", "通州区", "tongzhou", 22, (39.910, 116.657), False),
    ("110113", "顺义区", "shunyi", 25, (40.130, 116.654), False),
    ("110114", "昌平区", "changping", 22, (40.220, 116.231), False),
    ("110115", "大兴区", "daxing", 22, (39.727, 116.341), False),
    ("110116", "怀柔区", "huairou", 16, (40.316, 116.632), False),
    ("110117", "平谷区", "pinggu", 18, (40.140, 117.121), False),
    ("110118", "密云区", "miyun", 20, (40.377, 116.843), False),
    ("110119", "延庆区", "yanqing", 18, (40.456, 115.975), False),
]

FIRST = "安东西南北和永兴华德新长青红金玉光明清景福宁春明大小上下太白文龙凤天广泰康民建丰嘉乐"
SECOND = "华平安定兴和宁康乐园门桥庄营屯坊里河湖山泉林苑台村口店寺关峪坡沟塘湾桥亭亮阳"
COMPOUND_ENDINGS = ["小区", "家园", "花园", "嘉园", "苑", "里", "公寓", "新村", "西里", "北里"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红鹏辉建国志海波宁斌玲春燕晶丹东亮飞雪梅琳"
ORDINALS = "一二三四五六七八九十"


class Names:
    """Unique names, drawn from the parts in a seeded order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def place(self, ending: str) -> str:
        """A two-syllable place name with `ending` (街道, 镇, 社区, 村, 小区 …), unique in the city."""
        for length in (2, 2, 2, 3):
            for _ in range(40):
                stem = "".join(self.rng.choice(FIRST if i == 0 else SECOND) for i in range(length))
                if stem + ending not in self.used:
                    self.used.add(stem + ending)
                    return stem + ending
        raise RuntimeError(f"名称用尽 out of names ending {ending}")

    def person(self) -> str:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))
        return self.rng.choice(SURNAMES) + given


def ordinal(number: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (grids are numbered in words: 第十二网格)."""
    if number <= 10:
        return ORDINALS[number - 1]
    tens, ones = divmod(number, 10)
    return (ORDINALS[tens - 1] if tens > 1 else "") + "十" + (ORDINALS[ones - 1] if ones else "")
