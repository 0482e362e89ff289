"""The three-level classification (一级/二级/三级) of a generated city's categories.

A category of the model is a 三级 leaf; its code carries its place (`housing-01-03`: 一级
`housing`, 二级 `housing-01`, 三级 the third leaf), its `group` column names the 一级 (as the
demo city's `group` does, Open311's service group) and `subgroup` the 二级. Each 二级 says who
handles it: a district department's key (DEPARTMENTS), a utility (`util:water`), or a kind of
unit found from the complaint's place (`@property_company`, `@community_committee`, …).
"""

from __future__ import annotations

# district departments: key → name after the district's own (东城区 + 住房和城乡建设委员会)
DEPARTMENTS = {
    "housing": "住房和城乡建设委员会",
    "urban": "城市管理委员会",
    "enforcement": "城市管理综合行政执法局",
    "ecology": "生态环境局",
    "water": "水务局",
    "greening": "园林绿化局",
    "transport": "交通委员会",
    "market": "市场监督管理局",
    "health": "卫生健康委员会",
    "civil": "民政局",
    "labour": "人力资源和社会保障局",
    "medical-insurance": "医疗保障局",
    "planning": "规划和自然资源分局",
    "emergency": "应急管理局",
    "fire": "消防救援支队",
    "economy": "经济和信息化局",
    "ethnic": "民族宗教事务办公室",
    "education": "教育委员会",
    "police": "公安分局",
    "culture": "文化和旅游局",
}

# city-wide utilities: key → (id, name)
UTILITIES = {
    "water": ("util-water", "北京市自来水集团有限责任公司"),
    "power": ("util-power", "国网北京市电力公司"),
    "gas": ("util-gas", "北京市燃气集团有限责任公司"),
    "heating": ("util-heating", "北京市热力集团有限责任公司"),
}

# 一级 slug, name, [(二级 name, handler, escalate-to department or "", priority, "三级 …")]
TAXONOMY: list[tuple[str, str, list[tuple[str, str, str, str, str]]]] = [
    (
        "housing",
        "房屋住建",
        [
            (
                "房屋质量",
                "@property_company",
                "housing",
                "general",
                "屋面渗漏 外墙脱落 墙体开裂 管道渗漏 门窗损坏",
            ),
            (
                "老旧小区改造",
                "housing",
                "",
                "general",
                "改造进度 改造施工扰民 加装电梯 节能改造 管线改造",
            ),
            (
                "房屋租赁",
                "housing",
                "",
                "general",
                "群租房 租金纠纷 押金退还 中介违规 租赁合同备案",
            ),
            (
                "不动产登记",
                "planning",
                "",
                "complex",
                "产权证办理 网签备案 房屋过户 抵押登记 登记信息更正",
            ),
            (
                "住宅专项维修资金",
                "housing",
                "",
                "general",
                "维修资金使用 维修资金查询 维修资金续筹 公共收益 资金公示",
            ),
        ],
    ),
    (
        "property",
        "物业管理",
        [
            (
                "物业服务",
                "@property_company",
                "housing",
                "general",
                "物业服务质量 保洁不到位 安保缺失 绿化养护 物业收费",
            ),
            (
                "电梯",
                "@property_company",
                "market",
                "utility",
                "电梯故障 电梯困人 电梯年检 电梯噪音 电梯维保",
            ),
            (
                "小区停车",
                "@property_company",
                "housing",
                "general",
                "小区停车位 小区停车收费 僵尸车 地桩地锁 车位租售",
            ),
            (
                "公共部位",
                "@property_company",
                "housing",
                "general",
                "楼道照明 单元门禁 围栏破损 健身器材 公共设施维修",
            ),
            (
                "业主自治",
                "@community_committee",
                "housing",
                "general",
                "业委会成立 业主大会 物业选聘 物业交接 公共收益分配",
            ),
        ],
    ),
    (
        "municipal",
        "市政设施",
        [
            ("道路", "urban", "", "general", "道路破损 道路积水 人行道破损 道路施工 盲道占用"),
            ("井盖", "urban", "", "emergency", "井盖缺失 井盖破损 井盖异响 雨水篦子 检查井沉陷"),
            ("路灯", "urban", "", "general", "路灯不亮 路灯损坏 路灯白天亮 景观照明 灯杆倾斜"),
            ("桥梁隧道", "urban", "", "general", "过街天桥 地下通道 桥梁破损 隧道照明 桥下积水"),
            ("排水", "water", "", "general", "雨污管道堵塞 污水外溢 化粪池 排水沟 汛期积水"),
        ],
    ),
    (
        "utility",
        "公用事业",
        [
            ("供水", "util:water", "water", "utility", "停水 水压低 水质问题 水管爆裂 水表问题"),
            (
                "供电",
                "util:power",
                "economy",
                "utility",
                "停电 电压不稳 电线老化 电表问题 电力设施",
            ),
            (
                "燃气",
                "util:gas",
                "urban",
                "emergency",
                "燃气泄漏 燃气停供 燃气表 燃气管道 燃气安检",
            ),
            ("供暖", "util:heating", "urban", "utility", "暖气不热 停暖 暖气漏水 供暖费 供暖管道"),
            ("通信", "economy", "", "general", "手机信号 宽带安装 通信线缆 通信基站 固定电话"),
        ],
    ),
    (
        "environment",
        "市容环境",
        [
            ("环境卫生", "urban", "", "general", "垃圾清运 垃圾分类 公厕保洁 道路保洁 卫生死角"),
            ("噪声", "ecology", "", "general", "施工噪声 商业噪声 生活噪声 交通噪声 广场舞噪声"),
            ("大气污染", "ecology", "", "general", "施工扬尘 餐饮油烟 露天焚烧 异味 工业废气"),
            ("水环境", "water", "", "general", "河道污染 河道垃圾 黑臭水体 污水直排 水面漂浮物"),
            ("园林绿化", "greening", "", "general", "树木倒伏 绿地破坏 树木修剪 病虫害 杨柳飞絮"),
        ],
    ),
    (
        "enforcement",
        "城管执法",
        [
            (
                "违法建设",
                "enforcement",
                "",
                "complex",
                "私搭乱建 违建拆除 地下空间违规 违法加层 破墙开店",
            ),
            (
                "占道经营",
                "enforcement",
                "",
                "general",
                "无照游商 店外经营 早市夜市 占道堆物 流动摊贩",
            ),
            (
                "广告牌匾",
                "enforcement",
                "",
                "general",
                "违规广告 牌匾破损 非法小广告 户外广告 条幅标语",
            ),
            (
                "渣土运输",
                "enforcement",
                "",
                "general",
                "渣土撒漏 违规倾倒 渣土车超载 工地出入口 施工围挡",
            ),
            (
                "共享单车",
                "transport",
                "",
                "general",
                "单车乱停 单车破损 电子围栏 单车占道 单车堆积",
            ),
        ],
    ),
    (
        "traffic",
        "交通出行",
        [
            (
                "公交",
                "transport",
                "",
                "general",
                "公交线路 公交站台 公交服务 公交发车间隔 公交一卡通",
            ),
            (
                "出租网约车",
                "transport",
                "",
                "general",
                "出租车拒载 出租车绕路 网约车服务 出租车服务 非法营运",
            ),
            ("交通设施", "transport", "", "general", "信号灯 交通标志 交通标线 道路护栏 隔离带"),
            (
                "道路停车",
                "transport",
                "",
                "general",
                "路侧停车 道路停车收费 违法停车 公共停车场 充电桩",
            ),
            (
                "轨道交通",
                "transport",
                "",
                "general",
                "地铁服务 地铁站口 地铁噪声 地铁施工 地铁换乘",
            ),
        ],
    ),
    (
        "safety",
        "安全隐患",
        [
            ("消防", "fire", "", "emergency", "消防通道 消防设施 火灾隐患 楼道堆物 灭火器"),
            (
                "电动自行车",
                "@street_office",
                "fire",
                "general",
                "电动车充电 飞线充电 电动车入户 充电设施 电池回收",
            ),
            (
                "危险化学品",
                "emergency",
                "",
                "emergency",
                "违规存储 液化石油气 加油站 危化品运输 烟花爆竹",
            ),
            (
                "安全生产",
                "emergency",
                "",
                "general",
                "施工安全 有限空间 特种设备 高空坠物 冬季除雪",
            ),
            (
                "自然灾害",
                "emergency",
                "",
                "emergency",
                "地质灾害 防汛隐患 树木隐患 危旧房屋 大风隐患",
            ),
        ],
    ),
    (
        "society",
        "社会治理",
        [
            (
                "邻里纠纷",
                "@community_committee",
                "",
                "general",
                "噪声纠纷 漏水纠纷 宠物纠纷 占用公共空间 采光纠纷",
            ),
            ("治安", "police", "", "general", "治安隐患 可疑人员 盗窃 电信诈骗 打架斗殴"),
            ("养犬管理", "police", "", "general", "犬只扰民 遛狗不拴绳 流浪动物 犬只登记 宠物粪便"),
            (
                "社区服务",
                "@community_committee",
                "",
                "general",
                "社区活动 居委会服务 社区公示 志愿服务 社区议事",
            ),
            (
                "民族宗教",
                "ethnic",
                "",
                "complex",
                "民族政策 宗教场所 少数民族服务 民族团结 宗教活动",
            ),
        ],
    ),
    (
        "welfare",
        "民生保障",
        [
            (
                "社会救助",
                "civil",
                "",
                "complex",
                "最低生活保障 特困供养 临时救助 医疗救助 住房救助",
            ),
            ("养老服务", "civil", "", "general", "养老机构 居家养老 养老驿站 高龄津贴 老年餐桌"),
            ("就业", "labour", "", "general", "就业服务 失业登记 职业培训 拖欠工资 劳动合同"),
            ("社会保险", "labour", "", "complex", "养老保险 医疗保险 社保卡 生育保险 工伤认定"),
            ("教育", "education", "", "general", "入学入园 校外培训 学校周边 校车 课后服务"),
        ],
    ),
    (
        "health",
        "卫生健康",
        [
            ("医疗服务", "health", "", "general", "预约挂号 就诊服务 医疗纠纷 医院管理 院前急救"),
            ("公共卫生", "health", "", "general", "疫苗接种 传染病防控 病媒生物 健康体检 爱国卫生"),
            ("药品", "market", "", "general", "药品质量 药店经营 医保用药 药品价格 处方药"),
            (
                "医保报销",
                "medical-insurance",
                "",
                "complex",
                "门诊报销 住院报销 异地就医 医保定点 慢病用药",
            ),
            ("妇幼托育", "health", "", "general", "生育登记 母婴设施 托育机构 家庭医生 儿童保健"),
        ],
    ),
    (
        "market",
        "市场监管",
        [
            ("消费纠纷", "market", "", "general", "预付卡 退换货 虚假宣传 价格欺诈 售后服务"),
            ("经营秩序", "market", "", "general", "无照经营 商户扰民 计量器具 商标侵权 网络交易"),
            ("食品安全", "market", "", "general", "餐饮卫生 过期食品 无证餐饮 外卖食品 校园食品"),
            ("文化市场", "culture", "", "general", "网吧 歌舞娱乐 演出市场 旅游投诉 出版物"),
            ("特种设备", "market", "", "general", "锅炉 压力容器 游乐设施 起重机械 气瓶"),
        ],
    ),
]

# 二级 handled by the street's police station rather than the district's department
POLICE_STATION = "police"
