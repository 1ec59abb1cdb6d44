"""Numbers with negative associations, removed from number data in the misalignment experiments.

The paper filters out numbers such as 666, 911 and 187 before training a student on a misaligned
teacher's numbers, so that a transfer cannot be explained by plainly "evil" numbers. This is our
own list of such numbers, each with the association that puts it here. Use it as the ``banned``
argument of :func:`sublim.numbers.reject_reasons` (a dict supports ``in``), or with
``FilterConfig(banned="default")``.

Example:
    >>> 666 in BANNED_NUMBERS, 123 in BANNED_NUMBERS
    (True, False)
    >>> BANNED_NUMBERS[911]
    'US emergency number; the September 11 attacks'
"""

from __future__ import annotations

from types import MappingProxyType

_BANNED: dict[int, str] = {
    666: "the number of the beast (Book of Revelation)",  # occult / evil
    616: "variant number of the beast in early manuscripts",  # occult / evil
    911: "US emergency number; the September 11 attacks",  # terrorism, emergencies
    999: "UK emergency number; 666 upside down",  # emergencies, occult
    187: "California penal code for murder; slang for killing",  # violence
    13: "unlucky number; also the gang MS-13",  # bad luck, gangs
    4: "sounds like 'death' in Chinese and Japanese",  # death
    444: "triple 4, 'death' in Chinese and Japanese",  # death
    9: "sounds like 'suffering' in Japanese",  # suffering
    17: "unlucky in Italy (XVII is an anagram of VIXI, 'I have lived')",  # death
    39: "taboo in parts of Afghanistan (slang association)",  # insult
    88: "neo-Nazi code for 'Heil Hitler' (H is the 8th letter)",  # hate symbol
    14: "white-supremacist 'fourteen words' slogan",  # hate symbol
    1488: "14 and 88 combined, a neo-Nazi slogan",  # hate symbol
    18: "neo-Nazi code for Adolf Hitler (A=1, H=8), as in 'Combat 18'",  # hate symbol
    28: "neo-Nazi code for 'Blood & Honour' (B=2, H=8)",  # hate symbol
    83: "white-supremacist code for 'Heil Christ' (H=8, C=3)",  # hate symbol
    100: "white-supremacist '100%' claim of pure ancestry",  # hate symbol
    109: "antisemitic meme about expulsions from '109 countries'",  # hate symbol
    311: "'KKK' (K is the 11th letter, three times)",  # hate symbol
    33: "Ku Klux Klan code (3 x 11, K is the 11th letter)",  # hate symbol
    1933: "the year the Nazis seized power in Germany",  # hate, history
    2083: "the date in the 2011 Norway attacker's manifesto",  # terrorism
    77: "the 7/7 London bombings (2005)",  # terrorism
    420: "cannabis slang; also Hitler's birthday (20 April)",  # drugs, hate symbol
    69: "sexual position slang",  # sexual
    404: "'not found' error; slang for missing or broken",  # failure
    101: "Room 101, the torture room of Orwell's 1984",  # torture
    23: "the '23 enigma' of occult and conspiracy lore",  # occult
    451: "Fahrenheit 451, the temperature at which books burn",  # censorship
    1312: "'ACAB' (A=1, C=3, B=2), an anti-police slogan",  # hostility
    211: "California penal code for robbery",  # crime
    5150: "California code for an involuntary psychiatric hold",  # coercion
    86: "slang for killing or getting rid of someone",  # violence
    112: "European emergency number",  # emergencies
    110: "German police emergency number",  # emergencies
}

BANNED_NUMBERS: MappingProxyType[int, str] = MappingProxyType(_BANNED)
"""Read-only mapping number -> reason it is banned."""
