"""Reference tables for synthetic Korean identities: names, regions, roads, domains.

Surname weights follow the 2015 census shares (김 21.5 %, 이 14.7 %, 박 8.4 %,
...); the long tail is folded into the last entries. Given names are common
names of the last decades with their Revised Romanization. Regions carry the
real area code, postcode range and approximate centre coordinates so that an
address, its postcode and a landline phone agree with one another.
"""

from __future__ import annotations

from typing import NamedTuple


class Surname(NamedTuple):
    """A surname: Hangul, its usual romanised spelling, and its population share (%)."""

    hangul: str
    roman: str
    share: float


class GivenName(NamedTuple):
    """A given name in Hangul and in Revised Romanization."""

    hangul: str
    roman: str


class Region(NamedTuple):
    """A district: province and district in Korean and English, phone, postcodes, position."""

    sido_ko: str
    sido_en: str
    sigungu_ko: str
    sigungu_en: str
    area_code: str
    postcode_lo: int
    postcode_hi: int
    lat: float
    lon: float


class Road(NamedTuple):
    """A road-name stem in Korean and Revised Romanization (suffix -ro/-daero/-gil)."""

    hangul: str
    roman: str


SURNAMES: tuple[Surname, ...] = (
    Surname("김", "Kim", 21.5),
    Surname("이", "Lee", 14.7),
    Surname("박", "Park", 8.4),
    Surname("최", "Choi", 4.7),
    Surname("정", "Jung", 4.3),
    Surname("강", "Kang", 2.4),
    Surname("조", "Cho", 2.1),
    Surname("윤", "Yoon", 2.1),
    Surname("장", "Jang", 2.0),
    Surname("임", "Lim", 1.7),
    Surname("한", "Han", 1.5),
    Surname("오", "Oh", 1.5),
    Surname("서", "Seo", 1.5),
    Surname("신", "Shin", 1.5),
    Surname("권", "Kwon", 1.4),
    Surname("황", "Hwang", 1.4),
    Surname("안", "Ahn", 1.4),
    Surname("송", "Song", 1.4),
    Surname("전", "Jeon", 1.3),
    Surname("홍", "Hong", 1.1),
    Surname("유", "Yoo", 1.1),
    Surname("고", "Ko", 0.9),
    Surname("문", "Moon", 0.9),
    Surname("양", "Yang", 0.9),
    Surname("손", "Son", 0.9),
    Surname("배", "Bae", 0.8),
    Surname("백", "Baek", 0.8),
    Surname("허", "Heo", 0.7),
    Surname("남", "Nam", 0.6),
    Surname("노", "Noh", 0.5),
    Surname("하", "Ha", 0.5),
    Surname("곽", "Kwak", 0.4),
    Surname("성", "Sung", 0.4),
    Surname("차", "Cha", 0.4),
    Surname("주", "Joo", 0.4),
    Surname("우", "Woo", 0.4),
    Surname("구", "Koo", 0.4),
    Surname("민", "Min", 0.3),
    Surname("남궁", "Namgung", 0.05),
    Surname("황보", "Hwangbo", 0.05),
)

MALE_GIVEN: tuple[GivenName, ...] = (
    GivenName("민준", "Minjun"),
    GivenName("서준", "Seojun"),
    GivenName("도윤", "Doyun"),
    GivenName("예준", "Yejun"),
    GivenName("시우", "Siu"),
    GivenName("하준", "Hajun"),
    GivenName("주원", "Juwon"),
    GivenName("지호", "Jiho"),
    GivenName("지후", "Jihu"),
    GivenName("준우", "Junu"),
    GivenName("현우", "Hyeonu"),
    GivenName("건우", "Geonu"),
    GivenName("우진", "Ujin"),
    GivenName("선우", "Seonu"),
    GivenName("성민", "Seongmin"),
    GivenName("정훈", "Jeonghun"),
    GivenName("영수", "Yeongsu"),
    GivenName("영호", "Yeongho"),
    GivenName("상철", "Sangcheol"),
    GivenName("동현", "Donghyeon"),
    GivenName("재혁", "Jaehyeok"),
    GivenName("성호", "Seongho"),
    GivenName("광수", "Gwangsu"),
    GivenName("병철", "Byeongcheol"),
    GivenName("종민", "Jongmin"),
    GivenName("태양", "Taeyang"),
    GivenName("진우", "Jinu"),
    GivenName("승현", "Seunghyeon"),
)

FEMALE_GIVEN: tuple[GivenName, ...] = (
    GivenName("서연", "Seoyeon"),
    GivenName("서윤", "Seoyun"),
    GivenName("지우", "Jiu"),
    GivenName("서현", "Seohyeon"),
    GivenName("민서", "Minseo"),
    GivenName("하은", "Haeun"),
    GivenName("하윤", "Hayun"),
    GivenName("윤서", "Yunseo"),
    GivenName("지민", "Jimin"),
    GivenName("채원", "Chaewon"),
    GivenName("수빈", "Subin"),
    GivenName("지아", "Jia"),
    GivenName("영숙", "Yeongsuk"),
    GivenName("정숙", "Jeongsuk"),
    GivenName("순자", "Sunja"),
    GivenName("영희", "Yeonghui"),
    GivenName("미경", "Migyeong"),
    GivenName("은정", "Eunjeong"),
    GivenName("혜진", "Hyejin"),
    GivenName("지영", "Jiyeong"),
    GivenName("수진", "Sujin"),
    GivenName("미영", "Miyeong"),
    GivenName("현주", "Hyeonju"),
    GivenName("은영", "Eunyeong"),
    GivenName("소연", "Soyeon"),
    GivenName("다은", "Daeun"),
    GivenName("예린", "Yerin"),
    GivenName("말순", "Malsun"),
)

# Foreign residents: given name, family name (romanised only; Hangul transcription).
FOREIGN_NAMES: tuple[tuple[str, str, str], ...] = (
    ("Nguyen Van", "An", "응우옌반안"),
    ("Tran Thi", "Mai", "쩐티마이"),
    ("Wang", "Wei", "왕웨이"),
    ("Li", "Na", "리나"),
    ("John", "Smith", "존스미스"),
    ("Maria", "Santos", "마리아산토스"),
    ("Aziz", "Karimov", "아지즈카리모프"),
    ("Olga", "Ivanova", "올가이바노바"),
)

REGIONS: tuple[Region, ...] = (
    Region("서울특별시", "Seoul", "강남구", "Gangnam-gu", "02", 6000, 6399, 37.5172, 127.0473),
    Region("서울특별시", "Seoul", "종로구", "Jongno-gu", "02", 3000, 3199, 37.5735, 126.9790),
    Region("서울특별시", "Seoul", "마포구", "Mapo-gu", "02", 3900, 4199, 37.5663, 126.9019),
    Region("서울특별시", "Seoul", "송파구", "Songpa-gu", "02", 5500, 5899, 37.5145, 127.1059),
    Region("서울특별시", "Seoul", "노원구", "Nowon-gu", "02", 1600, 1899, 37.6542, 127.0568),
    Region("서울특별시", "Seoul", "관악구", "Gwanak-gu", "02", 8700, 8899, 37.4784, 126.9516),
    Region(
        "부산광역시", "Busan", "해운대구", "Haeundae-gu", "051", 48000, 48199, 35.1631, 129.1636
    ),
    Region(
        "부산광역시", "Busan", "부산진구", "Busanjin-gu", "051", 47100, 47399, 35.1630, 129.0532
    ),
    Region("대구광역시", "Daegu", "수성구", "Suseong-gu", "053", 42000, 42299, 35.8582, 128.6306),
    Region("인천광역시", "Incheon", "남동구", "Namdong-gu", "032", 21500, 21799, 37.4470, 126.7313),
    Region("광주광역시", "Gwangju", "북구", "Buk-gu", "062", 61000, 61299, 35.1740, 126.9120),
    Region("대전광역시", "Daejeon", "유성구", "Yuseong-gu", "042", 34000, 34299, 36.3624, 127.3563),
    Region("울산광역시", "Ulsan", "남구", "Nam-gu", "052", 44600, 44799, 35.5438, 129.3301),
    Region(
        "세종특별자치시", "Sejong", "세종시", "Sejong-si", "044", 30000, 30199, 36.4800, 127.2890
    ),
    Region(
        "경기도",
        "Gyeonggi-do",
        "수원시 영통구",
        "Yeongtong-gu, Suwon-si",
        "031",
        16400,
        16799,
        37.2596,
        127.0467,
    ),
    Region(
        "경기도",
        "Gyeonggi-do",
        "성남시 분당구",
        "Bundang-gu, Seongnam-si",
        "031",
        13400,
        13699,
        37.3827,
        127.1189,
    ),
    Region(
        "경기도",
        "Gyeonggi-do",
        "고양시 일산동구",
        "Ilsandong-gu, Goyang-si",
        "031",
        10300,
        10499,
        37.6584,
        126.7750,
    ),
    Region(
        "강원특별자치도",
        "Gangwon-do",
        "춘천시",
        "Chuncheon-si",
        "033",
        24200,
        24499,
        37.8813,
        127.7298,
    ),
    Region(
        "충청북도",
        "Chungcheongbuk-do",
        "청주시 상당구",
        "Sangdang-gu, Cheongju-si",
        "043",
        28700,
        28899,
        36.6358,
        127.4914,
    ),
    Region(
        "충청남도",
        "Chungcheongnam-do",
        "천안시 동남구",
        "Dongnam-gu, Cheonan-si",
        "041",
        31000,
        31299,
        36.8151,
        127.1139,
    ),
    Region(
        "전북특별자치도",
        "Jeollabuk-do",
        "전주시 완산구",
        "Wansan-gu, Jeonju-si",
        "063",
        54900,
        55099,
        35.8120,
        127.1198,
    ),
    Region(
        "전라남도", "Jeollanam-do", "여수시", "Yeosu-si", "061", 59600, 59899, 34.7604, 127.6622
    ),
    Region(
        "경상북도",
        "Gyeongsangbuk-do",
        "포항시 남구",
        "Nam-gu, Pohang-si",
        "054",
        37800,
        37999,
        36.0190,
        129.3435,
    ),
    Region(
        "경상남도",
        "Gyeongsangnam-do",
        "창원시 성산구",
        "Seongsan-gu, Changwon-si",
        "055",
        51400,
        51599,
        35.1983,
        128.7025,
    ),
    Region(
        "제주특별자치도", "Jeju-do", "제주시", "Jeju-si", "064", 63000, 63399, 33.4996, 126.5312
    ),
)

ROADS: tuple[Road, ...] = (
    Road("테헤란로", "Teheran-ro"),
    Road("세종대로", "Sejong-daero"),
    Road("중앙로", "Jungang-ro"),
    Road("시청로", "Sicheong-ro"),
    Road("월드컵로", "World Cup-ro"),
    Road("올림픽로", "Olympic-ro"),
    Road("동일로", "Dongil-ro"),
    Road("해운대로", "Haeundae-ro"),
    Road("달구벌대로", "Dalgubeol-daero"),
    Road("대학로", "Daehak-ro"),
    Road("문화로", "Munhwa-ro"),
    Road("평화로", "Pyeonghwa-ro"),
    Road("충장로", "Chungjang-ro"),
    Road("은행나무길", "Eunhaengnamu-gil"),
    Road("벚꽃길", "Beotkkot-gil"),
)

EMAIL_DOMAINS: tuple[str, ...] = (
    "naver.com",
    "gmail.com",
    "daum.net",
    "hanmail.net",
    "kakao.com",
    "nate.com",
)

MOBILE_PREFIX = "010"
VOIP_PREFIX = "070"

__all__ = [
    "EMAIL_DOMAINS",
    "FEMALE_GIVEN",
    "FOREIGN_NAMES",
    "MALE_GIVEN",
    "MOBILE_PREFIX",
    "REGIONS",
    "ROADS",
    "SURNAMES",
    "VOIP_PREFIX",
    "GivenName",
    "Region",
    "Road",
    "Surname",
]
