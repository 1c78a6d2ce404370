"""Small dictionaries behind the recognisers: surnames, given-name syllables, first names, stop words.

They are deliberately short. A name is never found by the dictionary alone:
each list only raises or lowers confidence next to a context cue (a title, a
label such as ``환자명:``, a suffix such as ``님``) or pairs a known first name
with a capitalised word.
"""

from __future__ import annotations

# Surnames covering about 95 % of Koreans (2015 census), plus the compound ones.
KO_SURNAMES = frozenset(
    ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안", "송", "전", "홍", "유", "고", "문", "양", "손", "배", "백", "허", "남", "심", "노", "하", "곽", "성", "차", "주", "우", "구", "민", "류", "나", "진", "지", "엄", "채", "원", "천", "방", "공", "현", "함", "변", "염", "여", "추", "도", "소", "석", "선", "설", "마", "길", "연", "위", "표", "명", "기", "반", "왕", "금", "옥", "육", "인", "맹", "제", "모", "탁", "국", "어", "은", "편", "용", "예", "경", "봉", "사", "부", "가", "복", "태", "목", "형", "피", "두", "감", "음", "빈", "동", "온", "호", "범", "좌", "팽", "승", "간", "상", "시", "갈", "단", "견", "당"]
)
KO_COMPOUND_SURNAMES = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "어금")

# Syllables that occur in given names; a word made of others (혈압, 부전, 번) is not a name.
KO_GIVEN_SYLLABLES = frozenset(
    ["가", "각", "강", "건", "말", "분", "점", "덕", "갑", "을", "복", "쇠", "돌", "님", "녀", "례", "애", "란", "옥", "금", "봉", "향", "단", "경", "계", "고", "곤", "관", "광", "교", "구", "국", "규", "균", "근", "금", "기", "길", "나", "남", "내", "녕", "다", "단", "달", "담", "대", "덕", "도", "돈", "동", "두", "라", "란", "래", "량", "려", "련", "렬", "령", "례", "로", "록", "룡", "루", "류", "률", "리", "린", "림", "마", "만", "명", "모", "목", "무", "문", "미", "민", "바", "박", "반", "배", "백", "범", "별", "병", "보", "복", "봉", "부", "분", "비", "빈", "빛", "사", "산", "삼", "상", "새", "서", "석", "선", "설", "섭", "성", "세", "소", "솔", "송", "수", "숙", "순", "술", "슬", "승", "시", "식", "신", "실", "심", "아", "안", "애", "야", "양", "언", "엄", "여", "연", "열", "염", "엽", "영", "예", "오", "옥", "온", "완", "왕", "요", "용", "우", "욱", "운", "웅", "원", "월", "위", "유", "육", "윤", "율", "은", "을", "음", "의", "이", "익", "인", "일", "임", "자", "작", "재", "전", "정", "제", "조", "종", "주", "준", "중", "지", "직", "진", "찬", "창", "채", "천", "철", "청", "초", "춘", "충", "치", "탁", "태", "택", "하", "학", "한", "해", "헌", "혁", "현", "형", "혜", "호", "홍", "화", "환", "황", "회", "효", "후", "훈", "휘", "흥", "희"]
)

# Two- and three-syllable words that start with a surname and precede 환자/님 in notes.
KO_NOT_NAMES = frozenset(
    ["여자", "남자", "여아", "남아", "소년", "소녀", "이번", "이전", "이후", "이상", "이하", "이분", "정상", "고령", "전체", "성인", "남성", "여성", "신규", "기존", "중증", "경증", "전원", "주요", "안정", "오늘", "양측", "우측", "전신", "한국", "한국인", "진료", "문진", "차기", "주치", "담당", "하기", "상기", "동일", "당일", "연령", "노인", "소아", "유아", "신생아", "임산부", "고위험", "전문", "심장", "신장", "간장", "고혈압", "당뇨", "심부전", "신부전", "폐렴", "유방암", "전립선", "고지혈", "주간", "야간", "외래", "입원", "응급", "수술", "시술", "재원", "전과", "전입", "동반", "보호", "성별", "나이", "장기", "단기", "조기", "만성", "급성", "최근", "최초", "최종", "금일", "명일", "작일", "금번", "이들", "모든", "각각", "해당", "대상", "선생", "교수", "의사", "간호", "보호자", "환자", "원장", "과장", "부장", "실장", "팀장", "주임", "주무", "연구", "유전", "정신", "소변", "대변", "혈액", "구토", "기침", "가래", "두통", "복통"]
)

# Revised-Romanization surnames and their common spellings.
ROMAN_SURNAMES = frozenset(
    ["Kim", "Lee", "Yi", "Rhee", "Park", "Pak", "Bak", "Choi", "Choe", "Jung", "Jeong", "Chung", "Kang", "Cho", "Jo", "Yoon", "Yun", "Jang", "Chang", "Lim", "Im", "Han", "Oh", "Seo", "Suh", "Shin", "Sin", "Kwon", "Hwang", "Ahn", "An", "Song", "Jeon", "Jun", "Hong", "Yoo", "Yu", "Ryu", "Ko", "Koh", "Go", "Moon", "Mun", "Yang", "Son", "Sohn", "Bae", "Baek", "Paik", "Heo", "Hur", "Nam", "Noh", "Roh", "Ha", "Kwak", "Sung", "Seong", "Cha", "Joo", "Ju", "Woo", "Koo", "Ku", "Min", "Na", "Jin", "Ji", "Um", "Eom", "Chae", "Won", "Cheon", "Bang", "Gong", "Hyun", "Ham", "Byun", "Yeom", "Yeo", "Choo", "Do", "Seok", "Sul", "Ma", "Gil", "Yeon", "Namgung", "Hwangbo", "Jegal", "Seonwoo", "Sunwoo", "Dokgo", "Sagong"]
)

# Common English given names (US census top names), without months and ordinary words.
EN_FIRST_NAMES = frozenset(
    ["James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter", "Noah", "Jeremy", "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold", "Sean", "Austin", "Carl", "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy", "Joe", "Bruce", "Gabriel", "Logan", "Albert", "Willie", "Alan", "Juan", "Wayne", "Elijah", "Randy", "Roy", "Vincent", "Ralph", "Eugene", "Russell", "Bobby", "Mason", "Philip", "Louis", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather", "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria", "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice", "Judy", "Sophia", "Denise", "Amber", "Doris", "Marilyn", "Danielle", "Beverly", "Isabella", "Theresa", "Diana", "Natalie", "Brittany", "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Sophie", "Oliver", "Liam", "Lucas", "Leo", "Mia", "Chloe", "Ella", "Zoe", "Lily", "Grace", "Wei", "Olga", "Aziz"]
)

# Words that follow a capitalised surname-like word in eponyms, so "Parkinson disease" stays.
EN_EPONYM_FOLLOWERS = frozenset(
    ["disease", "disease's", "syndrome", "sign", "signs", "score", "scale", "test", "maneuver", "manoeuvre", "criteria", "classification", "catheter", "stain", "procedure", "palsy", "phenomenon", "reflex", "fracture", "law", "type", "tube", "operation"]
)

# Capitalised words that are never a name when they follow a title or a relation word.
EN_NOT_NAME_WORDS = frozenset(
    ["ID", "No", "Number", "MRN", "DOB", "Name", "The", "A", "An", "And", "Or", "Of", "In", "On", "At", "To", "For", "With", "From", "By", "Was", "Is", "Has", "Had", "Will", "Who", "Hospital", "Clinic", "University", "Medical", "Center", "Centre", "Department", "Dept", "Radiology", "Cardiology", "Internal", "Medicine", "Emergency", "Surgery", "Oncology", "Neurology", "Pediatrics", "Office", "MD", "PhD", "RN", "NP", "PA", "Patient", "Pt", "Today", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
)

KO_SIDO = ["서울특별시", "서울시", "서울", "부산광역시", "부산시", "부산", "대구광역시", "대구시", "대구", "인천광역시", "인천시", "인천", "광주광역시", "광주시", "광주", "대전광역시", "대전시", "대전", "울산광역시", "울산시", "울산", "세종특별자치시", "세종시", "세종", "경기도", "경기", "강원특별자치도", "강원도", "강원", "충청북도", "충북", "충청남도", "충남", "전북특별자치도", "전라북도", "전북", "전라남도", "전남", "경상북도", "경북", "경상남도", "경남", "제주특별자치도", "제주도", "제주"]

# Prefixes that make "...병원" a kind of hospital rather than the name of one.
KO_GENERIC_HOSPITAL_PREFIXES = frozenset(
    ["타", "본", "큰", "상급", "종합", "상급종합", "대학", "요양", "전문", "지역", "인근", "협력", "해당", "동네", "개인", "정신", "재활", "소아", "한방", "동물", "치과", "내과", "외과", "안과", "이비인후과", "피부과", "산부인과", "정형외과", "신경과", "비뇨기과", "가정의학과", "소아청소년과", "재활의학과", "정신건강의학과", "2차", "3차", "1차", "다른", "같은", "국회", "시", "도", "구", "군"]
)

KO_GENERIC_HOSPITAL_WORDS = frozenset(["병원", "의원", "의료원", "대학병원", "대학교병원", "한의원"])

__all__ = [
    "EN_EPONYM_FOLLOWERS",
    "EN_FIRST_NAMES",
    "EN_NOT_NAME_WORDS",
    "KO_COMPOUND_SURNAMES",
    "KO_GENERIC_HOSPITAL_PREFIXES",
    "KO_GENERIC_HOSPITAL_WORDS",
    "KO_GIVEN_SYLLABLES",
    "KO_NOT_NAMES",
    "KO_SIDO",
    "KO_SURNAMES",
    "ROMAN_SURNAMES",
]
