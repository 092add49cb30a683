#!/usr/bin/env python3
"""Render the reply corpus: hand-written bodies -> .eml files in many mail-client layouts.

Reads corpus/replies/suppliers.json and every corpus/replies/bodies/*.jsonl, writes
corpus/replies/<split>/<id>.eml, corpus/replies/<split>/labels.jsonl and
corpus/replies/manifest.jsonl (id, split, layout, locale, encodings), and prints counts.

Deterministic: every choice (layout, client locale, charset, transfer encoding, reminder
date, extra invoices, amounts, attachments) is taken from a SHA-256 of the item id, so the
same bodies always give byte-identical files. Standard library only.

Usage: python3 scripts/corpus/replies.py [--check] [--strict] [--out DIR] [--ids ID,ID...]
"""

import argparse
import base64
import datetime as dt
import glob
import hashlib
import html as htmlmod
import json
import os
import quopri
import re
import sys
import textwrap
import unicodedata
import zlib
from email.header import Header
from email.utils import format_datetime


class _Html:
    @staticmethod
    def escape(s, quote=False):
        return htmlmod.escape(s, quote=quote)


html = _Html()

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "corpus", "replies")

INTENTS = ["promise_to_pay", "dispute", "already_paid", "payment_plan_request",
           "invoice_copy_request", "auto_reply", "other"]
KINDS = ["reply", "forward", "auto_reply", "dsn"]
QUOTES = ["top", "bottom", "inline", "none"]
# Layouts held out of `dev`: every item rendered with one of them goes to `unseen`.
HELD_OUT = {"lotus_notes", "zimbra"}

# (layout, weight) per customer language.
LAYOUTS = {
    "fr": [("outlook_html", 16), ("outlook_text", 6), ("outlook_web", 8), ("outlook_mobile", 5),
           ("gmail", 14), ("apple_mail", 8), ("thunderbird", 7), ("yahoo", 4), ("zimbra", 5),
           ("lotus_notes", 4), ("webmail_orange", 7), ("webmail_sfr", 4), ("webmail_free", 5),
           ("plain", 4)],
    "en": [("outlook_html", 20), ("outlook_text", 7), ("outlook_web", 11), ("outlook_mobile", 7),
           ("gmail", 17), ("apple_mail", 10), ("thunderbird", 6), ("yahoo", 5), ("zimbra", 5),
           ("lotus_notes", 5), ("plain", 4)],
}

# Automatic replies come from servers and the few clients that have a responder.
AUTO_LAYOUTS = {
    "fr": [("outlook_html", 30), ("outlook_web", 15), ("gmail", 15), ("zimbra", 10), ("lotus_notes", 6),
           ("webmail_orange", 8), ("plain", 16)],
    "en": [("outlook_html", 35), ("outlook_web", 18), ("gmail", 17), ("zimbra", 8), ("lotus_notes", 6), ("plain", 16)],
}

MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]
MONTHS_FR_ABBR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                  "oct.", "nov.", "déc."]
DAYS_FR = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
DAYS_FR_ABBR = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
DAYS_DE = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]

FREEMAIL = {"gmail.com", "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net",
            "hotmail.fr", "hotmail.com", "outlook.fr", "outlook.com", "yahoo.fr", "yahoo.com",
            "yahoo.co.uk", "icloud.com", "me.com", "gmx.fr", "aol.com", "live.fr", "live.com",
            "neuf.fr", "bbox.fr", "btinternet.com", "comcast.net", "proton.me", "protonmail.com"}


# ---------------------------------------------------------------- helpers

def h(item_id, salt):
    return int(hashlib.sha256(f"{salt}:{item_id}".encode()).hexdigest(), 16)


def pick(item_id, salt, choices):
    return choices[h(item_id, salt) % len(choices)]


def chance(item_id, salt, pct):
    return h(item_id, salt) % 100 < pct


def weighted(item_id, salt, table):
    total = sum(w for _, w in table)
    r = h(item_id, salt) % total
    for name, w in table:
        if r < w:
            return name
        r -= w
    return table[-1][0]


def last_sunday(year, month):
    d = dt.date(year, month + 1, 1) - dt.timedelta(days=1) if month < 12 else dt.date(year, 12, 31)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


def nth_sunday(year, month, n):
    d = dt.date(year, month, 1)
    d += dt.timedelta(days=(6 - d.weekday()) % 7)
    return d + dt.timedelta(days=7 * (n - 1))


def utc_offset(country, day, us_zone=-5):
    """Standard/daylight offset in hours for the supplier's country on that day."""
    if country in ("FR", "DE"):
        return 2 if last_sunday(day.year, 3) <= day < last_sunday(day.year, 10) else 1
    if country in ("GB", "IE"):
        return 1 if last_sunday(day.year, 3) <= day < last_sunday(day.year, 10) else 0
    if country == "US":
        dst = nth_sunday(day.year, 3, 2) <= day < nth_sunday(day.year, 11, 1)
        return us_zone + (1 if dst else 0)
    return 0


# Invoice numbers the bodies use, per supplier: extra invoices of a reminder avoid them.
USED_REFS = {}

US_ZONE = {"northwind-us": -8, "initech-us": -6, "stark-us": -5}


def ascii_fold(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def customer_company(item):
    if item.get("customer"):
        return item["customer"]
    dom = item["from_addr"].split("@")[-1].lower()
    if dom in FREEMAIL:
        return item["from_name"] or item["from_addr"].split("@")[0]
    base = dom.split(".")[0]
    words = re.split(r"[-_.]", base)
    return " ".join(w.upper() if len(w) <= 3 and w not in ("de", "la", "le", "and") else w.capitalize() for w in words)


def vary_ref(ref, k):
    """Another invoice number of the same scheme: shift the last digit run by k."""
    m = list(re.finditer(r"[0-9]+", ref))[-1]
    width = len(m.group())
    val = int(m.group()) + k
    if val <= 0:
        val = int(m.group()) + abs(k) + 1
    return ref[:m.start()] + str(val).zfill(width)[-width:] + ref[m.end():]


def money(amount_cents, currency, style):
    units, cents = divmod(amount_cents, 100)
    if style == "fr":
        s = f"{units:,}".replace(",", " ") + f",{cents:02d}"
        return s + (" €" if currency == "EUR" else " " + currency)
    sym = {"GBP": "£", "USD": "$", "EUR": "€"}[currency]
    return f"{sym}{units:,}.{cents:02d}"


def fmt_date_num(d, style):
    if style == "us":
        return d.strftime("%m/%d/%Y")
    return d.strftime("%d/%m/%Y")


def tzname(offset_minutes):
    sign = "+" if offset_minutes >= 0 else "-"
    m = abs(offset_minutes)
    return f"{sign}{m // 60:02d}{m % 60:02d}"


def ampm(t, sep=" "):
    hour = t.hour % 12 or 12
    return f"{hour}:{t.minute:02d}{sep}{'AM' if t.hour < 12 else 'PM'}"


# ---------------------------------------------------------------- loading and checks

class Bad(Exception):
    pass


def load_suppliers():
    with open(os.path.join(CORPUS, "suppliers.json"), encoding="utf-8") as f:
        sups = json.load(f)
    return {s["id"]: s for s in sups}


def load_items():
    items = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "bodies", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    it = json.loads(line)
                except json.JSONDecodeError as e:
                    items.append({"_error": f"{os.path.basename(path)}:{n}: invalid JSON: {e}"})
                    continue
                it["_where"] = f"{os.path.basename(path)}:{n}"
                items.append(it)
    return items


def digits_key(ref):
    """Significant digits of a reference: digit runs without leading zeros."""
    return [str(int(x)) for x in re.findall(r"[0-9]+", ref)]


def check_item(it, sups, seen):
    where = it["_where"]
    for k in ("id", "lang", "supplier", "date", "from_addr", "body", "label"):
        if k not in it:
            raise Bad(f"{where}: missing field {k!r}")
    m = re.fullmatch(r"(fr|en)-(b[0-9]+)-([0-9]{3,})", it["id"])
    if not m:
        raise Bad(f"{where}: id {it['id']!r} is not <lang>-<batch>-<nnn>")
    if m.group(1) != it["lang"]:
        raise Bad(f"{where}: id and lang disagree")
    if it["id"] in seen:
        raise Bad(f"{where}: duplicate id {it['id']}")
    if it["supplier"] not in sups:
        raise Bad(f"{where}: unknown supplier {it['supplier']!r}")
    try:
        d = dt.datetime.fromisoformat(it["date"])
    except ValueError:
        raise Bad(f"{where}: bad date {it['date']!r}")
    if d.tzinfo is None:
        raise Bad(f"{where}: date without UTC offset")
    kind = it.get("kind", "reply")
    if kind not in KINDS:
        raise Bad(f"{where}: bad kind {kind!r}")
    quote = it.get("quote") or ("none" if kind in ("auto_reply", "dsn") else "top")
    if quote not in QUOTES:
        raise Bad(f"{where}: bad quote {quote!r}")
    if quote == "inline" and not it.get("inline"):
        raise Bad(f"{where}: quote=inline without inline segments")
    if kind == "dsn" and not it.get("dsn"):
        raise Bad(f"{where}: kind=dsn without dsn fields")
    lab = it["label"]
    if lab.get("intent") not in INTENTS:
        raise Bad(f"{where}: bad intent {lab.get('intent')!r}")
    pd = lab.get("promised_date")
    if pd is not None and pd != "any":
        try:
            pdd = dt.date.fromisoformat(pd)
        except ValueError:
            raise Bad(f"{where}: bad promised_date {pd!r}")
        if pdd < d.date() - dt.timedelta(days=1):
            raise Bad(f"{where}: promised_date {pd} before the message date")
    if pd is not None and lab["intent"] != "promise_to_pay":
        raise Bad(f"{where}: promised_date set on a {lab['intent']} item")
    if lab["intent"] == "promise_to_pay" and pd is None:
        raise Bad(f"{where}: promise_to_pay without promised_date (use \"any\" when vague)")
    amt = lab.get("amount")
    if amt is not None and not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", str(amt)):
        raise Bad(f"{where}: amount {amt!r} is not a decimal string with a dot")
    rd = lab.get("return_date")
    if rd is not None:
        dt.date.fromisoformat(rd)
    sup = sups[it["supplier"]]
    rx = re.compile(sup["numbering"]["regex"])
    refs = lab.get("refs") or []
    for r in refs + list(it.get("reminder_invoices") or []):
        if not rx.fullmatch(r):
            raise Bad(f"{where}: ref {r!r} does not match {sup['id']}'s numbering {rx.pattern}")
    if it.get("reminder_invoices"):
        missing = [r for r in refs if r not in it["reminder_invoices"]]
        if missing:
            raise Bad(f"{where}: refs {missing} not in reminder_invoices")
    warnings = []
    # A ref should be visible somewhere: in the customer's text or in the subject.
    text = it["body"] + " " + " ".join(seg.get("text", "") for seg in (it.get("inline") or []))
    text += " " + (it.get("subject") or "")
    text_digits = set(re.findall(r"[0-9]+", text))
    text_digits |= {str(int(x)) for x in text_digits}
    subject_has_refs = it.get("subject") is None and "{refs}" in sup["subject"] and kind != "dsn"
    for r in refs:
        if not subject_has_refs and not any(k in text_digits for k in digits_key(r)[-1:]):
            warnings.append(f"{where}: ref {r} is neither in the text nor in the subject")
    return warnings


# ---------------------------------------------------------------- the reminder

def build_reminder(it, sup):
    iid = it["id"]
    reply_dt = dt.datetime.fromisoformat(it["date"])
    country = sup["country"]
    days_before = 1 + h(iid, "rdays") % 9
    rday = reply_dt.date() - dt.timedelta(days=days_before)
    while rday.weekday() >= 5:
        rday -= dt.timedelta(days=1)
    off = utc_offset(country, rday, US_ZONE.get(sup["id"], -5))
    rtime = dt.time(7 + h(iid, "rhour") % 4, h(iid, "rmin") % 60, h(iid, "rsec") % 60)
    rdt = dt.datetime.combine(rday, rtime, tzinfo=dt.timezone(dt.timedelta(hours=off)))
    if rdt >= reply_dt:
        rdt = reply_dt - dt.timedelta(hours=20)
    refs = list(it["label"].get("refs") or [])
    invoices = list(it.get("reminder_invoices") or [])
    if not invoices:
        base = refs[0] if refs else sup["numbering"]["examples"][h(iid, "ex") % len(sup["numbering"]["examples"])]
        if not refs:
            base = vary_ref(base, h(iid, "base") % 60 - 30)
        invoices = list(refs) if refs else [base]
        n_extra = h(iid, "nextra") % 3 if refs else h(iid, "nextra") % 2
        k = 1
        while n_extra > 0:
            cand = vary_ref(base, -(3 + h(iid, f"x{k}") % 40))
            if cand not in invoices and cand not in USED_REFS.get(sup["id"], ()) and re.fullmatch(sup["numbering"]["regex"], cand):
                invoices.append(cand)
                n_extra -= 1
            k += 1
            if k > 20:
                break
    amounts = it.get("amounts") or {}
    rows = []
    for i, ref in enumerate(invoices):
        if ref in amounts:
            cents = int(round(float(amounts[ref]) * 100))
        else:
            x = h(iid, f"amt{i}")
            cents = (8000 + x % 900000) // (100 if x % 5 == 0 else 1) * (100 if x % 5 == 0 else 1)
        due = rday - dt.timedelta(days=5 + h(iid, f"due{i}") % 70)
        issued = due - dt.timedelta(days=30 if h(iid, f"t{i}") % 2 else 45)
        year, month = ref_period(ref, sup)
        if year and (issued.year != year or (month and issued.month != month)):
            lo = dt.date(year, month or 1, 1)
            hi = min(dt.date(year, month, 28) if month else dt.date(year, 12, 28), rday - dt.timedelta(days=3))
            hi = max(hi, lo)
            issued = lo + dt.timedelta(days=h(iid, f"lo{i}") % ((hi - lo).days + 1))
            room = (rday - issued).days - 1 - h(iid, f"d2{i}") % 3
            due = issued + dt.timedelta(days=max(0, min(30, room)))
        rows.append({"ref": ref, "issued": issued, "due": due, "cents": cents})
    # Higher numbers were issued later.
    order = sorted(range(len(rows)), key=lambda i: [int(x) for x in re.findall(r"[0-9]+", rows[i]["ref"])])
    dates = sorted((r["issued"], r["due"]) for r in rows)
    for rank, i in enumerate(order):
        rows[i]["issued"], rows[i]["due"] = dates[rank]
    account = f"C{10000 + h(it['from_addr'].split('@')[-1], 'acct') % 89999:05d}"
    if "{refs}" in sup["subject"] and refs:
        subject = sup["subject"].replace("{refs}", (", " if sup["lang"] == "en" else " / " if h(iid, "sj") % 2 else ", ").join(refs))
    elif "{refs}" in sup["subject"] and it.get("kind") in ("auto_reply", "dsn"):
        subject = sup["subject"].replace("{refs}", invoices[0])
    else:
        subject = sup["subject_noref"]
    subject = subject.replace("{account}", account)
    return {"dt": rdt, "rows": rows, "subject": subject, "account": account,
            "msgid": f"<rl.{h(iid, 'mid') % 10**10}.t1@{sup['domain']}>"}


def ref_period(ref, sup):
    """(year, month or None) an invoice number encodes, if any."""
    m = re.search(r"(?<![0-9])(20[0-9]{2})(?![0-9])", ref)
    if m:
        return int(m.group(1)), None
    if re.fullmatch(r"2[0-9](0[1-9]|1[0-2])[0-9]{4}", ref):
        return 2000 + int(ref[:2]), int(ref[2:4])
    m = re.match(r"(?:F|FAC/|TA|INV)(2[0-9])[-/]", ref)
    if m:
        return 2000 + int(m.group(1)), None
    return None, None


def money_style(sup):
    return "fr" if sup["lang"] == "fr" else "en"


def date_style(sup):
    return "us" if sup["country"] == "US" else "eu"


def invoice_table_text(sup, rows):
    ms, ds = money_style(sup), date_style(sup)
    if sup["lang"] == "fr":
        head = ("N° facture", "Date", "Échéance", "Montant TTC")
    else:
        head = ("Invoice", "Date", "Due date", "Amount")
    lines = [head] + [(r["ref"], fmt_date_num(r["issued"], ds), fmt_date_num(r["due"], ds),
                       money(r["cents"], sup["currency"], ms)) for r in rows]
    w = [max(len(l[i]) for l in lines) for i in range(4)]
    out = []
    for l in lines:
        out.append("  " + "  ".join(l[i].ljust(w[i]) if i < 3 else l[i].rjust(w[i]) for i in range(4)).rstrip())
    return "\n".join(out)


def invoice_table_html(sup, rows):
    ms, ds = money_style(sup), date_style(sup)
    head = ("N° facture", "Date", "Échéance", "Montant TTC") if sup["lang"] == "fr" else ("Invoice", "Date", "Due date", "Amount")
    td = 'style="padding:2px 10px;border:1px solid #cccccc"'
    out = ['<table style="border-collapse:collapse;font-size:10pt" cellpadding="0" cellspacing="0">',
           "<tr>" + "".join(f'<th {td} align="left">{html.escape(x)}</th>' for x in head) + "</tr>"]
    for r in rows:
        cells = (r["ref"], fmt_date_num(r["issued"], ds), fmt_date_num(r["due"], ds), money(r["cents"], sup["currency"], ms))
        right = ' align="right"'
        out.append("<tr>" + "".join(f"<td {td}{right if i == 3 else ''}>{html.escape(c)}</td>" for i, c in enumerate(cells)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def fill_template(sup, it, rem, table):
    total = money(sum(r["cents"] for r in rem["rows"]), sup["currency"], money_style(sup))
    body = sup["body"]
    body = body.replace("{customer}", customer_company(it)).replace("{total}", total)
    body = body.replace("{account}", rem["account"])
    return body.split("{invoices}", 1) if "{invoices}" in body else [body, ""]


def reminder_text(sup, it, rem):
    a, b = fill_template(sup, it, rem, None)
    return a + invoice_table_text(sup, rem["rows"]) + b + "\n\n" + sup["signature"]


def text_to_html_paras(text, p_open="<p>", p_close="</p>"):
    paras = [p for p in re.split(r"\n\s*\n", text.strip("\n"))]
    return "\n".join(p_open + "<br>\n".join(html.escape(l) for l in p.split("\n")) + p_close for p in paras)


def reminder_html(sup, it, rem):
    a, b = fill_template(sup, it, rem, None)
    font = 'style="font-family:Arial,Helvetica,sans-serif;font-size:10pt"'
    return (f"<div {font}>\n" + text_to_html_paras(a) + "\n" + invoice_table_html(sup, rem["rows"]) + "\n"
            + text_to_html_paras(b) + "\n" + '<p style="color:#555555">'
            + "<br>\n".join(html.escape(l) for l in sup["signature"].split("\n")) + "</p>\n</div>")


# ---------------------------------------------------------------- attribution lines

def attribution(layout, loc, name, addr, d, to_name, to_addr, subject, forward=False):
    """The text that introduces the quoted reminder. Returns a list of (label, value) for header
    blocks, or a single string for one-line attributions."""
    wd, mo = d.weekday(), d.month - 1
    hm = d.strftime("%H:%M")
    if layout in ("outlook_html", "outlook_text", "outlook_web", "outlook_mobile"):
        if loc == "fr":
            sent = f"{DAYS_FR[wd]} {d.day} {MONTHS_FR[mo]} {d.year} {hm}"
            if layout == "outlook_mobile":
                sent = f"{DAYS_FR[wd]} {d.day} {MONTHS_FR[mo]} {d.year} {d.strftime('%H:%M:%S')}"
            labels = ("De", "Envoyé", "À", "Objet")
        elif loc == "de":
            sent = f"{DAYS_DE[wd]}, {d.day}. {MONTHS_DE[mo]} {d.year} {hm}"
            labels = ("Von", "Gesendet", "An", "Betreff")
        elif loc == "en-gb":
            sent = f"{d.day:02d} {MONTHS_EN[mo]} {d.year} {hm}"
            labels = ("From", "Sent", "To", "Subject")
        else:
            sent = f"{DAYS_EN[wd]}, {MONTHS_EN[mo]} {d.day}, {d.year} {ampm(d)}"
            if layout == "outlook_mobile":
                sent = f"{DAYS_EN[wd]}, {MONTHS_EN[mo]} {d.day}, {d.year} {d.hour % 12 or 12}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"
            labels = ("From", "Sent", "To", "Subject")
        frm = f"{name} <{addr}>"
        to = f"{to_name} <{to_addr}>" if to_name else to_addr
        return list(zip(labels, (frm, sent, to, subject)))
    if layout == "gmail":
        if forward:
            if loc == "fr":
                return [("---------- Message transféré ---------", None), ("De :", f"{name} <{addr}>"),
                        ("Date :", f"{DAYS_FR_ABBR[wd]} {d.day} {MONTHS_FR_ABBR[mo]} {d.year} à {hm}"),
                        ("Objet :", subject), ("À :", f"<{to_addr}>")]
            return [("---------- Forwarded message ---------", None), ("From:", f"{name} <{addr}>"),
                    ("Date:", f"{DAYS_EN[wd][:3]}, {MONTHS_EN[mo][:3]} {d.day}, {d.year} at {ampm(d, chr(0x202f))}"),
                    ("Subject:", subject), ("To:", f"<{to_addr}>")]
        if loc == "fr":
            return f"Le {DAYS_FR_ABBR[wd]} {d.day} {MONTHS_FR_ABBR[mo]} {d.year} à {hm}, {name} <{addr}> a écrit :"
        return f"On {DAYS_EN[wd][:3]}, {MONTHS_EN[mo][:3]} {d.day}, {d.year} at {ampm(d, chr(0x202f))} {name} <{addr}> wrote:"
    if layout == "apple_mail":
        if forward:
            if loc == "fr":
                return [("Début du message réexpédié :", None), ("De:", f"{name} <{addr}>"), ("Objet:", subject),
                        ("Date:", f"{d.day} {MONTHS_FR[mo]} {d.year} à {d.strftime('%H:%M:%S')} UTC{d.strftime('%z')[:3].replace('+0', '+').replace('-0', '-')}"),
                        ("À:", f"{to_name} <{to_addr}>")]
            return [("Begin forwarded message:", None), ("From:", f"{name} <{addr}>"), ("Subject:", subject),
                    ("Date:", f"{MONTHS_EN[mo]} {d.day}, {d.year} at {ampm(d)} GMT{d.strftime('%z')[:3].replace('+0', '+').replace('-0', '-')}"),
                    ("To:", f"{to_name} <{to_addr}>")]
        if loc == "fr":
            return f"Le {d.day} {MONTHS_FR[mo]} {d.year} à {hm}, {name} <{addr}> a écrit :"
        return f"On {MONTHS_EN[mo][:3]} {d.day}, {d.year}, at {ampm(d)}, {name} <{addr}> wrote:"
    if layout == "thunderbird":
        if forward:
            if loc == "fr":
                return [("-------- Message transféré --------", None), ("Sujet :", subject),
                        ("Date :", format_datetime(d)), ("De :", f"{name} <{addr}>"), ("Pour :", to_addr)]
            return [("-------- Forwarded Message --------", None), ("Subject:", subject),
                    ("Date:", format_datetime(d)), ("From:", f"{name} <{addr}>"), ("To:", to_addr)]
        if loc == "fr":
            return f"Le {d.strftime('%d/%m/%Y')} à {hm}, {name} a écrit :"
        return f"On {d.month}/{d.day}/{d.strftime('%y')} {ampm(d)}, {name} wrote:"
    if layout == "yahoo":
        z = d.utcoffset().total_seconds() / 3600
        zs = f"{'+' if z >= 0 else '-'}{abs(int(z))}"
        if loc == "fr":
            return f"Le {DAYS_FR[wd]} {d.day} {MONTHS_FR[mo]} {d.year} à {d.strftime('%H:%M:%S')} UTC{zs}, {name} <{addr}> a écrit :"
        return f"On {DAYS_EN[wd]}, {MONTHS_EN[mo]} {d.day}, {d.year}, {d.strftime('%I:%M:%S')} {'AM' if d.hour < 12 else 'PM'} GMT{zs}, {name} <{addr}> wrote:"
    if layout == "zimbra":
        if loc == "fr":
            return [("----- Mail transféré -----" if forward else "----- Mail original -----", None),
                    ("De:", f'"{name}" <{addr}>'), ("À:", f'"{to_name}" <{to_addr}>' if to_name else to_addr),
                    ("Envoyé:", f"{DAYS_FR[wd].capitalize()} {d.day} {MONTHS_FR[mo].capitalize()} {d.year} {d.strftime('%H:%M:%S')}"),
                    ("Objet:", subject)]
        return [("----- Forwarded Message -----" if forward else "----- Original Message -----", None),
                ("From:", f'"{name}" <{addr}>'), ("To:", f'"{to_name}" <{to_addr}>' if to_name else to_addr),
                ("Sent:", f"{DAYS_EN[wd]}, {MONTHS_EN[mo]} {d.day}, {d.year} {d.hour % 12 or 12}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"),
                ("Subject:", subject)]
    if layout == "lotus_notes":
        if loc == "fr":
            return [("De :", f"{name} <{addr}>"), ("A :", to_addr), ("Date :", d.strftime("%d/%m/%Y %H:%M")), ("Objet :", subject)]
        return [("From:", f"{name} <{addr}>"), ("To:", to_addr), ("Date:", d.strftime("%m/%d/%Y %I:%M %p")), ("Subject:", subject)]
    if layout == "webmail_orange":
        return [(f"Message du {d.strftime('%d/%m/%y %H:%M')}", None), ("De :", f'"{name}" <{addr}>'),
                ("A :", to_addr), ("Copie à :", ""), ("Objet :", subject)]
    if layout == "webmail_sfr":
        return f"Le {d.strftime('%d/%m/%y %H:%M')}, \"{name}\" <{addr}> a écrit :"
    if layout == "webmail_free":
        if loc == "fr":
            return f"Le {d.strftime('%Y-%m-%d %H:%M')}, {name} a écrit :"
        return f"On {d.strftime('%Y-%m-%d %H:%M')}, {name} wrote:"
    # plain (mutt)
    if loc == "fr":
        return f"Le {DAYS_FR_ABBR[wd]} {d.day} {MONTHS_FR_ABBR[mo]} {d.year} à {d.strftime('%H:%M:%S')} {d.strftime('%z')}, {name} a écrit :"
    return f"On {DAYS_EN[wd][:3]}, {MONTHS_EN[mo][:3]} {d.day}, {d.year} at {d.strftime('%I:%M:%S%p')} {d.strftime('%z')}, {name} wrote:"


def gmail_wrap(line, width=76):
    """Gmail's text/plain wraps the attribution line, often right after '<'."""
    if len(line) <= width:
        return line
    lt = line.find(" <")
    if 0 < lt and lt + 2 <= width:
        return line[:lt + 2] + "\n" + line[lt + 2:]
    cut = line.rfind(" ", 0, width)
    return line[:cut] + "\n" + line[cut + 1:]


def block_text(att):
    if isinstance(att, str):
        return att
    out = []
    for lab, val in att:
        if val is None:
            out.append(lab)
        elif lab.endswith(":"):
            out.append(f"{lab} {val}".rstrip())
        else:
            out.append(f"{lab}: {val}")
    return "\n".join(out)


def quote_lines(text, prefix="> "):
    return "\n".join((prefix + l) if l else prefix.rstrip() for l in text.split("\n"))


def flow(text, width=72):
    """format=flowed: soft breaks end with a space."""
    out = []
    for line in text.split("\n"):
        q = re.match(r"^(>+ ?)", line)
        pre = q.group(1) if q else ""
        body = line[len(pre):]
        if len(line) <= width or " " not in body:
            out.append(line)
            continue
        parts = textwrap.wrap(body, width - len(pre), break_long_words=False, break_on_hyphens=False)
        for i, p in enumerate(parts):
            out.append(pre + p + (" " if i < len(parts) - 1 else ""))
    return "\n".join(out)


def hard_wrap(text, width=72):
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


# ---------------------------------------------------------------- the customer's text in HTML

def html_text(layout, text):
    lines = text.split("\n")
    e = html.escape
    if layout in ("outlook_html",):
        return "\n".join(f'<p class="MsoNormal">{e(l) if l.strip() else "&nbsp;"}<o:p></o:p></p>' for l in lines)
    if layout in ("outlook_web", "outlook_mobile"):
        return "\n".join(f'<div class="elementToProof" style="font-family:Aptos,Calibri,Helvetica,sans-serif;font-size:12pt;color:rgb(0,0,0)">{e(l) if l.strip() else "<br>"}</div>' for l in lines)
    if layout == "gmail":
        return '<div dir="ltr">' + "".join(f"<div>{e(l) if l.strip() else '<br>'}</div>" for l in lines) + "</div>"
    if layout == "apple_mail":
        return "".join(f"<div>{e(l) if l.strip() else '<br>'}</div>" for l in lines)
    if layout == "yahoo":
        return '<div class="ydp3c1f2a9yahoo-style-wrap" style="font-family:Helvetica Neue, Helvetica, Arial, sans-serif;font-size:13px;">' + "".join(
            f'<div dir="ltr" data-setdir="false">{e(l) if l.strip() else "<br>"}</div>' for l in lines) + "</div>"
    if layout == "zimbra":
        return '<div style="font-family: arial, helvetica, sans-serif; font-size: 12pt; color: #000000">' + "".join(
            "<div>" + (e(l) if l.strip() else '<br data-mce-bogus="1">') + "</div>" for l in lines) + "</div>"
    if layout == "lotus_notes":
        return '<font size=2 face="sans-serif">' + "<br>".join(e(l) for l in lines) + "</font>"
    if layout == "thunderbird":
        return text_to_html_paras(text)
    return "<div>" + "<br>\n".join(e(l) for l in lines) + "</div>"


def html_attr_block(layout, att):
    e = html.escape
    if layout == "outlook_html":
        inner = "<br>\n".join(f"<b>{e(lab)}&nbsp;:</b> {e(val)}" if lab in ("De", "Envoyé", "À", "Objet") else f"<b>{e(lab)}:</b> {e(val)}" for lab, val in att)
        return ('<div>\n<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
                f'<p class="MsoNormal"><b><span lang="FR" style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif">'
                f"</span></b>{inner}<o:p></o:p></p>\n</div>\n</div>\n<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>")
    if layout in ("outlook_web", "outlook_mobile"):
        inner = "<br>\n".join(f"<b>{e(lab)}{'&nbsp;:' if lab in ('De', 'Envoyé', 'À', 'Objet') else ':'}</b> {e(val)}" for lab, val in att)
        return ('<hr style="display:inline-block;width:98%" tabindex="-1">\n<div id="divRplyFwdMsg" dir="ltr">'
                f'<font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">{inner}</font>\n<div>&nbsp;</div>\n</div>')
    if layout == "zimbra":
        inner = "<br>".join(f"<b>{e(lab)} </b>{e(val)}" for lab, val in att[1:])
        return f'<hr id="zwchr" data-marker="__DIVIDER__"><div data-marker="__HEADERS__">{inner}<br></div><br>'
    if layout == "lotus_notes":
        cells = "".join(f'<tr valign=top><td><font size=1 color=#5f5f5f face="sans-serif">{e(lab)}</font></td>'
                        f'<td><font size=1 face="sans-serif">{e(val)}</font></td></tr>' for lab, val in att)
        return f'<br><br><br><br><table width="100%">{cells}</table><br><hr width="100%" size=2 align=left noshade style="color:#A0A0A0; "><br>'
    if layout == "webmail_orange":
        return "<br>".join(("&gt; " + e(lab) + ("" if val is None else " " + e(val))) for lab, val in att) + "<br>&gt;<br>"
    return "<br>".join(e(lab) + ("" if val is None else " " + e(val)) for lab, val in att) + "<br><br>"


# ---------------------------------------------------------------- MIME building

def encode_header(value, charset):
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        return Header(value, charset, maxlinelen=76).encode()


def fmt_addr(name, addr, charset):
    if not name:
        return addr
    try:
        name.encode("ascii")
        if re.search(r'[(),.:;<>@\[\]"]', name):
            return '"' + name.replace('"', '\\"') + f'" <{addr}>'
        return f"{name} <{addr}>"
    except UnicodeEncodeError:
        return Header(name, charset).encode() + f" <{addr}>"


def encodable(text, charset):
    try:
        text.encode(charset)
        return True
    except UnicodeEncodeError:
        return False


def leaf(ctype, text, charset, cte, params=""):
    data = text.encode(charset)
    if cte == "7bit" and any(b > 127 for b in data):
        cte = "quoted-printable"
    if cte == "base64":
        body = base64.encodebytes(data).decode("ascii").rstrip("\n")
    elif cte == "quoted-printable":
        body = quopri.encodestring(data).decode("ascii").rstrip("\n")
    else:
        body = data.decode(charset)
    hdr = f'Content-Type: {ctype}; charset="{charset}"{params}\nContent-Transfer-Encoding: {cte}\n'
    return hdr, body


def binary_leaf(ctype, data, filename, disposition="attachment", cid=None):
    b = base64.encodebytes(data).decode("ascii").rstrip("\n")
    hdr = f'Content-Type: {ctype}; name="{filename}"\nContent-Disposition: {disposition}; filename="{filename}"\nContent-Transfer-Encoding: base64\n'
    if cid:
        hdr += f"Content-ID: <{cid}>\n"
    return hdr, b


def multipart(subtype, parts, boundary, params=""):
    hdr = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}\n'
    body = []
    for ph, pb in parts:
        body.append(f"--{boundary}\n{ph}\n{pb}")
    return hdr, "\n".join(body) + f"\n--{boundary}--"


def tiny_pdf(title):
    t = title.encode("latin-1", "replace")
    t = t.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 14 Tf 60 760 Td (" + t + b") Tj ET"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    x = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for o in offs:
        out += f"{o:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n".encode()
    return out


def tiny_png(seed):
    w = hgt = 24
    r, g, b = seed & 255, (seed >> 8) & 255, (seed >> 16) & 255
    raw = b"".join(b"\x00" + bytes([r, g, b]) * w for _ in range(hgt))

    def chunk(typ, data):
        c = typ + data
        return len(data).to_bytes(4, "big") + c + zlib.crc32(c).to_bytes(4, "big")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", w.to_bytes(4, "big") + hgt.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00")
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- rendering one item

def choose_locale(it, sup, layout):
    iid = it["id"]
    if layout in ("webmail_orange", "webmail_sfr"):
        return "fr"
    base = it["lang"]
    if base == "en":
        base = "en-us" if sup["country"] == "US" else "en-gb"
    if layout.startswith("outlook") and chance(iid, "de", 6):
        return "de"
    if chance(iid, "otherloc", 8):
        return "en-us" if it["lang"] == "fr" else "fr"
    return base


def loc_lang(loc):
    return "fr" if loc == "fr" else "de" if loc == "de" else "en"


def reply_prefix(layout, loc, kind):
    if kind == "forward":
        if layout.startswith("outlook") or layout == "lotus_notes":
            return {"fr": "TR : ", "de": "WG: "}.get(loc, "FW: ")
        if layout in ("gmail", "apple_mail", "thunderbird", "yahoo", "plain"):
            return "Fwd: "
        return "TR: " if loc == "fr" else "Fwd: "
    if layout.startswith("outlook"):
        return {"fr": "RE : ", "de": "AW: "}.get(loc, "RE: ")
    if layout in ("lotus_notes",):
        return "Réf : " if loc == "fr" else "Re: "
    return "Re: " if layout != "zimbra" else ("RE: " if loc == "fr" else "Re: ")


def auto_subject(it, loc, rsubj):
    iid = it["id"]
    if loc == "fr":
        return pick(iid, "asubj", ["Réponse automatique : ", "Absent(e) du bureau : ", "Absence : ", "Re: ", "Message d'absence - "]) + rsubj
    if loc == "de":
        return "Automatische Antwort: " + rsubj
    return pick(iid, "asubj", ["Automatic reply: ", "Out of Office: ", "Re: ", "Auto: ", "Out of office re: "]) + rsubj


def message_id(layout, it, domain):
    iid = it["id"]
    x = hashlib.sha256(iid.encode()).hexdigest()
    if layout == "gmail":
        return "<CA" + base64.b64encode(bytes.fromhex(x[:48])).decode().replace("/", "_").rstrip("=") + "@mail.gmail.com>"
    if layout.startswith("outlook"):
        host = pick(iid, "exch", ["PR3P195MB0634", "AM9P192MB1183", "DB9PR02MB7292", "PAXPR04MB8912", "BN8PR12MB3361"])
        return f"<{host}{x[:12].upper()}@{host}.{pick(iid, 'exr', ['EURP195', 'EURPRD02', 'namprd12'])}.PROD.OUTLOOK.COM>"
    if layout == "apple_mail":
        return f"<{x[:8].upper()}-{x[8:12].upper()}-{x[12:16].upper()}-{x[16:20].upper()}-{x[20:32].upper()}@{domain}>"
    if layout == "lotus_notes":
        return f"<OF{x[:8].upper()}.{x[8:16].upper()}-ON{x[16:24].upper()}@{domain}>"
    if layout == "zimbra":
        return f"<{int(x[:8], 16)}.{int(x[8:14], 16)}.{int(x[14:24], 16)}.JavaMail.zimbra@{domain}>"
    return f"<{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}@{domain}>"


CLIENT_HEADERS = {
    "outlook_html": ["X-Mailer: Microsoft Outlook 16.0", "Thread-Index: {ti}", "Content-Language: {cl}"],
    "outlook_text": ["X-Mailer: Microsoft Office Outlook 12.0", "Thread-Index: {ti}", "Content-Language: {cl}"],
    "outlook_web": ["Thread-Topic: {topic}", "Thread-Index: {ti}", "Content-Language: {cl}", "X-MS-Has-Attach: ", "x-ms-exchange-messagesentrepresentingtype: 1"],
    "outlook_mobile": ["Thread-Topic: {topic}", "Thread-Index: {ti}", "X-MS-Has-Attach: "],
    "gmail": [],
    "apple_mail": ["X-Mailer: iPhone Mail (22D82)", "X-Mailer: Apple Mail (2.3826.400.131.1.6)"],
    "thunderbird": ["User-Agent: Mozilla Thunderbird", "Content-Language: {cl}"],
    "yahoo": ["X-Mailer: WebService/1.1.23369 YMailNorrin"],
    "zimbra": ["X-Mailer: Zimbra 9.0.0_ZEXTRAS_20240927 (ZimbraWebClient - FF133 (Win)/9.0.0_ZEXTRAS_20240927)", "Thread-Topic: {topic}"],
    "lotus_notes": ["X-Mailer: IBM Notes Release 9.0.1FP10 SHF197 December 19, 2018", "X-MIMETrack: Serialize by Router on SRVMAIL01/{org}(Release 9.0.1FP10|December 18, 2018) at {d}"],
    "webmail_orange": ["X-Mailer: Orange Messagerie", "X-WUM-CLIENT: 192.168.1.{n}"],
    "webmail_sfr": ["X-Mailer: SFR Mail"],
    "webmail_free": ["User-Agent: Roundcube Webmail/1.6.9"],
    "plain": ["User-Agent: NeoMutt/20231103"],
}


def render(it, sup):
    iid = it["id"]
    kind = it.get("kind", "reply")
    quote = it.get("quote") or ("none" if kind in ("auto_reply", "dsn") else "top")
    table = AUTO_LAYOUTS[it["lang"]] if kind == "auto_reply" else LAYOUTS[it["lang"]]
    layout = "dsn" if kind == "dsn" else weighted(iid, "layout", table)
    reply_dt = dt.datetime.fromisoformat(it["date"])
    rem = build_reminder(it, sup)
    if kind == "dsn":
        bounced = dict(it, from_addr=it["dsn"]["recipient"], from_name=None)
        return render_dsn(bounced, sup, build_reminder(bounced, sup), reply_dt), "dsn", it["lang"], "dsn"
    loc = choose_locale(it, sup, layout)
    ll = loc_lang(loc)
    rdt_local = rem["dt"].astimezone(reply_dt.tzinfo)
    cust_name = it.get("from_name") or ""
    cust_addr = it["from_addr"]
    forward = kind == "forward"

    if it.get("subject") is not None:
        subject = it["subject"]
    elif kind == "auto_reply":
        subject = auto_subject(it, loc, rem["subject"])
    else:
        subject = reply_prefix(layout, loc, kind) + rem["subject"]

    att = attribution(layout, ll if layout not in ("outlook_html", "outlook_text", "outlook_web", "outlook_mobile") else loc,
                      sup["sender_name"], sup["sender_addr"], rdt_local, cust_name, cust_addr, rem["subject"], forward)
    if layout == "outlook_text":
        att_text = ({"fr": "-----Message d'origine-----", "de": "-----Ursprüngliche Nachricht-----"}.get(loc, "-----Original Message-----")
                    + "\n" + "\n".join(f"{lab}{' :' if ll == 'fr' else ':'} {val}" for lab, val in att))
    elif layout in ("outlook_html", "outlook_web", "outlook_mobile"):
        sep = "________________________________\n" if layout != "outlook_html" or chance(iid, "olsep", 50) else ""
        att_text = sep + "\n".join(f"{lab}{' :' if ll == 'fr' else ':'} {val}" for lab, val in att)
    elif layout == "lotus_notes" and isinstance(att, list):
        if ll == "fr":
            att_text = f'-----"{sup["sender_name"]}" <{sup["sender_addr"]}> a écrit : -----\n\n' + "\n".join(f"{lab}\t{val}" for lab, val in att)
        else:
            att_text = f'-----"{sup["sender_name"]}" <{sup["sender_addr"]}> wrote: -----\n\n' + "\n".join(f"{lab}\t{val}" for lab, val in att)
    else:
        att_text = block_text(att)
    if layout == "gmail" and isinstance(att, str):
        att_text = gmail_wrap(att_text)

    new_text = it["body"].rstrip("\n")
    # Mobile signatures the client appends.
    if layout == "outlook_mobile" and kind != "auto_reply":
        os_ = pick(iid, "mos", ["iOS", "iOS", "Android"])
        mob = {"fr": f"Obtenir Outlook pour {os_}", "de": f"Outlook für {os_} beziehen"}.get(loc, f"Get Outlook for {os_}")
    else:
        mob = None
    iphone = layout == "apple_mail" and chance(iid, "iphone", 45) and kind != "auto_reply"
    if iphone:
        new_text += "\n\n" + ({"fr": "Envoyé de mon iPhone"}.get(ll, "Sent from my iPhone"))
    if layout == "yahoo" and chance(iid, "ysig", 40) and kind != "auto_reply":
        new_text += "\n\n" + ("Envoyé de Yahoo Mail pour Android" if ll == "fr" else "Sent from Yahoo Mail for iPhone")

    rtext = reminder_text(sup, it, rem)
    rhtml = reminder_html(sup, it, rem)

    # Which MIME shape.
    text_only_layouts = {"outlook_text", "plain"}
    if layout in text_only_layouts or (layout == "thunderbird" and chance(iid, "tbtext", 55)) or (
            layout == "webmail_free" and chance(iid, "freetext", 30)) or (layout == "lotus_notes" and chance(iid, "lntext", 25)):
        shape = "text"
    elif layout in ("outlook_web", "yahoo", "outlook_html", "lotus_notes") and chance(iid, "htmlonly", 18):
        shape = "html"
    else:
        shape = "alt"

    # ---------- plain text version
    def q_text():
        # Outlook, Yahoo and Notes do not prefix the quote in their text part; the others use "> ".
        if layout in ("outlook_html", "outlook_web", "outlook_mobile", "outlook_text", "yahoo", "lotus_notes") or (
                forward and layout != "plain"):
            body = rtext  # forwards are not prefixed either
        else:
            body = quote_lines(rtext)
        if layout == "webmail_orange":
            return quote_lines(att_text) + "\n>\n" + body
        if layout == "yahoo":
            return "    " + att_text + "\n\n" + "\n".join(("   " + l) if l else "" for l in body.split("\n"))
        return att_text + "\n\n" + body

    def inline_text():
        segs = []
        for seg in it["inline"]:
            if "quote" in seg:
                segs.append(quote_lines(seg["quote"]) if layout not in ("outlook_html", "outlook_web", "outlook_text") else seg["quote"])
            else:
                segs.append(seg["text"])
        return segs

    greet, signoff = split_greeting(new_text)
    if quote == "none":
        plain = new_text
    elif quote == "top":
        plain = new_text + "\n\n" + (mob + "\n" if mob else "") + q_text()
    elif quote == "bottom":
        plain = q_text() + "\n\n" + new_text
    else:
        plain = (greet + "\n\n" if greet else "") + att_text + "\n\n" + "\n\n".join(inline_text()) + ("\n\n" + signoff if signoff else "")
    if layout == "thunderbird":
        plain = flow(plain)
    elif layout == "plain":
        plain = hard_wrap(plain)

    # ---------- HTML version
    def q_html():
        if layout in ("outlook_html", "outlook_web", "outlook_mobile", "zimbra", "lotus_notes", "webmail_orange"):
            block = html_attr_block(layout, att) if isinstance(att, list) else f"<div>{html.escape(att_text)}</div>"
            if layout == "zimbra":
                return f'<blockquote style="border-left:2px solid #1010FF;margin-left:5px;padding-left:5px;color:#000;font-weight:normal;font-style:normal;text-decoration:none;font-family:Helvetica,Arial,sans-serif;font-size:12pt;">{block}<div data-marker="__QUOTED_TEXT__">{rhtml}</div></blockquote>'
            if layout == "webmail_orange":
                return f'<blockquote style="margin-left:0;padding-left:0">{block}{"<br>".join("&gt; " + html.escape(l) for l in rtext.split(chr(10)))}</blockquote>'
            return block + "\n" + rhtml
        a = html.escape(att_text if isinstance(att, str) else block_text(att)).replace("\n", "<br>")
        if layout == "gmail":
            if forward:
                return f'<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{a}<br></div><br><br>{rhtml}</div>'
            return (f'<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{html.escape(att)}<br></div>'
                    f'<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">{rhtml}</blockquote></div>')
        if layout == "apple_mail":
            if forward:
                return f'<div><br><blockquote type="cite"><div>{a}</div><br class="Apple-interchange-newline">{rhtml}</blockquote></div>'
            return f'<div><br><blockquote type="cite"><div>{a}</div><br class="Apple-interchange-newline"><div>{rhtml}</div></blockquote></div>'
        if layout == "thunderbird":
            if forward:
                return f'<div class="moz-forward-container"><br><br>{a}<br><br>{rhtml}</div>'
            return f'<div class="moz-cite-prefix">{a}<br></div><blockquote type="cite" cite="mid:{html.escape(rem["msgid"][1:-1])}">{rhtml}</blockquote>'
        if layout == "yahoo":
            return (f'<div id="ydp{h(iid, "yq") % 10**8}yahoo_quoted_{h(iid, "yq2") % 10**10}" class="yahoo_quoted">'
                    f'<div style="font-family:\'Helvetica Neue\', Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;"><div>{a}</div><div><br></div><div><br></div>'
                    f'<div><div dir="ltr">{rhtml}</div></div></div></div>')
        if layout == "webmail_sfr":
            return f'<div>{a}</div><blockquote style="border-left: 2px solid blue; padding-left: 5px; margin-left: 5px;">{rhtml}</blockquote>'
        if layout == "webmail_free":
            return f'<p>{a}</p>\n<blockquote type="cite" style="padding: 0 0.4em; border-left: #1010ff 2px solid; margin: 0">{rhtml}</blockquote>'
        return f"<div>{a}</div><blockquote>{rhtml}</blockquote>"

    def inline_html():
        out = []
        for seg in it["inline"]:
            if "quote" in seg:
                if layout in ("outlook_html", "outlook_web", "outlook_mobile"):
                    out.append(text_to_html_paras(seg["quote"], '<p class="MsoNormal">', "</p>"))
                else:
                    out.append('<blockquote type="cite" style="margin:0 0 0 .8ex;border-left:2px #1010ff solid;padding-left:1ex">' + text_to_html_paras(seg["quote"]) + "</blockquote>")
            else:
                if layout in ("outlook_html", "outlook_web", "outlook_mobile"):
                    out.append('<p class="MsoNormal"><b><span style="color:#C00000">' + "<br>".join(html.escape(l) for l in seg["text"].split("\n")) + "</span></b></p>")
                else:
                    out.append(html_text(layout, seg["text"]))
        return "\n".join(out)

    logo = None
    if shape != "text" and layout in ("outlook_html", "gmail", "apple_mail", "lotus_notes", "outlook_web") and chance(iid, "logo", 18) and kind != "auto_reply":
        logo = {"outlook_html": "image001.png", "outlook_web": "Outlook-logo.png", "gmail": "ii_m7x" + str(h(iid, 'g') % 10**6) + ".png",
                "apple_mail": "logo.png", "lotus_notes": "graycol.gif"}[layout]
    cid = (f"{logo}@01DC{h(iid, 'cid') % 10**8:08X}.{h(iid, 'cid2') % 10**8:08X}" if logo else None)

    body_html_text = html_text(layout, new_text)
    if mob:
        body_html_text += f'\n<div id="ms-outlook-mobile-signature"><div><br></div>{html.escape(mob)}</div>'
    if logo:
        body_html_text += f'\n<p><img src="cid:{cid}" width="120" height="40" alt="logo"></p>'
    if quote == "none":
        inner = body_html_text
    elif quote == "top":
        inner = body_html_text + "\n<br>\n" + q_html()
    elif quote == "bottom":
        inner = q_html() + "\n<br>\n" + body_html_text
    else:
        a = html.escape(att_text if isinstance(att, str) else block_text(att)).replace("\n", "<br>")
        inner = (html_text(layout, greet) if greet else "") + f"\n<div>{a}</div>\n" + inline_html() + ("\n" + html_text(layout, signoff) if signoff else "")
    if layout == "outlook_html":
        doc = ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
               'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
               'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={cs}">\n'
               '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n<style><!--\n'
               '/* Font Definitions */\n@font-face\n\t{font-family:"Cambria Math";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n'
               '@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n'
               'p.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-family:"Calibri",sans-serif;}\n'
               'span.EmailStyle18\n\t{mso-style-type:personal-reply;\n\tfont-family:"Calibri",sans-serif;\n\tcolor:windowtext;}\n'
               '@page WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:70.85pt 70.85pt 70.85pt 70.85pt;}\n'
               'div.WordSection1\n\t{page:WordSection1;}\n--></style>\n</head>\n'
               f'<body lang="{"FR" if ll == "fr" else "DE" if ll == "de" else "EN-US"}" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n'
               f'<div class="WordSection1">\n{inner}\n</div>\n</body>\n</html>')
    elif layout in ("outlook_web", "outlook_mobile"):
        doc = ('<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={cs}">\n'
               '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\n</head>\n'
               f'<body dir="ltr">\n{inner}\n</body>\n</html>')
    elif layout == "gmail":
        doc = inner
    elif layout == "apple_mail":
        doc = ('<html><head><meta http-equiv="content-type" content="text/html; charset={cs}"></head>'
               f'<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">{inner}</body></html>')
    elif layout == "thunderbird":
        doc = ('<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-Type" content="text/html; charset={cs}">\n  </head>\n'
               f'  <body>\n{inner}\n  </body>\n</html>')
    elif layout == "lotus_notes":
        doc = f"<html><body><p>{inner}</p></body></html>"
    else:
        doc = f"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset={{cs}}\"></head><body>{inner}</body></html>"

    # ---------- encodings
    all_text = plain + doc + subject + cust_name
    charset = "utf-8"
    if it["lang"] == "fr" and layout in ("outlook_html", "outlook_text", "lotus_notes", "webmail_orange", "webmail_sfr", "thunderbird", "plain", "outlook_web") and chance(iid, "latin", 40):
        for cs in ("iso-8859-1", "windows-1252", "iso-8859-15"):
            if encodable(all_text, cs) and (cs != "iso-8859-1" or not chance(iid, "cp", 40)):
                charset = cs
                break
    if layout in ("gmail",):
        cte_t, cte_h = pick(iid, "gcte", [("quoted-printable", "quoted-printable"), ("base64", "base64"), ("quoted-printable", "base64")])
    elif layout in ("outlook_html", "outlook_web", "outlook_mobile", "outlook_text"):
        cte_t = cte_h = pick(iid, "octe", ["quoted-printable", "quoted-printable", "base64"])
    elif layout in ("thunderbird", "plain", "webmail_free"):
        cte_t = cte_h = pick(iid, "tcte", ["8bit", "8bit", "quoted-printable"])
    elif layout == "apple_mail":
        cte_t = cte_h = "quoted-printable"
    else:
        cte_t = cte_h = pick(iid, "xcte", ["quoted-printable", "base64", "8bit"])
    if not re.search(r"[^\x00-\x7f]", all_text) and chance(iid, "7bit", 60):
        cte_t = cte_h = "7bit"
    doc = doc.replace("{cs}", charset)

    flowed = "; format=flowed" if layout == "thunderbird" else ""
    tpart = leaf("text/plain", plain, charset, cte_t, flowed)
    hpart = leaf("text/html", doc, charset, cte_h)
    bnd = lambda s: {"gmail": f"000000000000{h(iid, s) % 16**16:016x}",
                     "apple_mail": f"Apple-Mail={h(iid, s) % 16**8:08X}-{h(iid, s + 'b') % 16**4:04X}-{h(iid, s + 'c') % 16**4:04X}-{h(iid, s + 'd') % 16**4:04X}-{h(iid, s + 'e') % 16**12:012X}",
                     "thunderbird": f"------------{h(iid, s) % 10**24:024d}"[:36]}.get(
        layout, f"_{h(iid, s) % 10**3:03d}_{layout[:3].upper()}{h(iid, s + 'x') % 16**12:012X}_")
    if shape == "text":
        top = tpart
    elif shape == "html":
        top = hpart
    else:
        top = multipart("alternative", [tpart, hpart], bnd("alt"))
    if logo:
        img = binary_leaf("image/png", tiny_png(h(iid, "png")), logo, "inline", cid)
        if shape == "alt":
            rel = multipart("related", [hpart, img], bnd("rel"), '; type="text/html"')
            top = multipart("alternative", [tpart, rel], bnd("alt"))
        elif shape == "html":
            top = multipart("related", [hpart, img], bnd("rel"), '; type="text/html"')

    attachments = list(it.get("attachments") or [])
    if forward and not attachments and chance(iid, "fwdpdf", 45):
        r0 = rem["rows"][0]["ref"]
        attachments.append(("Facture_" if sup["lang"] == "fr" else "Invoice_") + re.sub(r"[^A-Za-z0-9-]", "_", r0) + ".pdf")
    if attachments:
        parts = [top]
        for i, name in enumerate(attachments):
            parts.append(binary_leaf("application/pdf", tiny_pdf(os.path.splitext(name)[0]), name))
        top = multipart("mixed", parts, bnd("mix"))

    # ---------- headers
    hdrs = []
    hdrs.append("From: " + fmt_addr(cust_name, cust_addr, charset if charset != "iso-8859-15" else "utf-8"))
    to = fmt_addr(sup["sender_name"], sup["sender_addr"], "utf-8")
    hdrs.append("To: " + to)
    if forward and chance(iid, "fwdcc", 50):
        dom = cust_addr.split("@")[-1]
        hdrs.append("Cc: " + pick(iid, "ccname", ["comptabilite", "compta.fournisseurs", "ap", "accounts.payable", "direction", "finance"]) + "@" + dom)
    hdrs.append("Subject: " + encode_header(subject, "utf-8" if charset == "iso-8859-15" else charset))
    hdrs.append("Date: " + format_datetime(reply_dt))
    hdrs.append("Message-ID: " + message_id(layout, it, cust_addr.split("@")[-1]))
    if quote != "none" or kind == "auto_reply" and not forward:
        if kind != "forward":
            hdrs.append("In-Reply-To: " + rem["msgid"])
        hdrs.append("References: " + rem["msgid"])
    for t in CLIENT_HEADERS.get(layout, []):
        if t.startswith("X-Mailer: iPhone") and not iphone or t.startswith("X-Mailer: Apple Mail") and iphone:
            continue
        t = t.format(ti=base64.b64encode(hashlib.sha256(("ti" + iid).encode()).digest()[:22]).decode(),
                     cl={"fr": "fr-FR", "de": "de-DE", "en-gb": "en-GB"}.get(loc, "en-US"),
                     topic=encode_header(rem["subject"], "utf-8"), org=ascii_fold(customer_company(it)).replace(" ", ""),
                     d=format_datetime(reply_dt), n=h(iid, "ip") % 250 + 2)
        hdrs.append(t)
    hdrs.append("MIME-Version: 1.0")
    extra = dict(it.get("headers") or {})
    out_hdrs = []
    for line in hdrs:
        name = line.split(":", 1)[0]
        if any(name.lower() == k.lower() for k in extra):
            continue
        out_hdrs.append(line)
    for k, v in extra.items():
        out_hdrs.append(f"{k}: {encode_header(str(v), 'utf-8')}")
    msg = "\n".join(out_hdrs) + "\n" + top[0] + "\n" + top[1] + "\n"
    return msg.encode(charset if "8bit" in (cte_t, cte_h) else "ascii"), layout, loc, f"{shape}/{charset}/{cte_t}"


def split_greeting(text):
    """For inline replies: the first paragraph is the greeting, the rest the sign-off."""
    paras = re.split(r"\n\s*\n", text.strip("\n"), maxsplit=1)
    if len(paras) == 1:
        return "", paras[0]
    return paras[0], paras[1]


def render_dsn(it, sup, rem, reply_dt):
    iid = it["id"]
    d = it["dsn"]
    mta = d.get("mta", "mx." + it["from_addr"].split("@")[-1])
    recipient = d["recipient"]
    style = pick(iid, "dsnstyle", ["postfix", "exchange", "gmail"])
    rsub = rem["subject"]
    if it.get("subject") is not None:
        subject = it["subject"]
    else:
        subject = {"postfix": "Undelivered Mail Returned to Sender",
                   "exchange": ("Non remis : " if it["lang"] == "fr" and chance(iid, "dsnfr", 60) else "Undeliverable: ") + rsub,
                   "gmail": "Delivery Status Notification (Failure)"}[style]
    human = it["body"].rstrip("\n")
    if not human:
        human = (f"This is the mail system at host {mta}.\n\nI'm sorry to have to inform you that your message could not\n"
                 f"be delivered to one or more recipients.\n\n<{recipient}>: {d.get('diagnostic', '')}")
    status = f"Reporting-MTA: dns; {mta}\nArrival-Date: {format_datetime(rem['dt'])}\n\nFinal-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\nAction: {d.get('action', 'failed')}\nStatus: {d.get('status', '5.0.0')}\nDiagnostic-Code: smtp; {d.get('diagnostic', '')}\n"
    orig = (f"From: {fmt_addr(sup['sender_name'], sup['sender_addr'], 'utf-8')}\nTo: {recipient}\nSubject: {encode_header(rsub, 'utf-8')}\n"
            f"Date: {format_datetime(rem['dt'])}\nMessage-ID: {rem['msgid']}\nMIME-Version: 1.0\n")
    charset = "utf-8"
    p1 = leaf("text/plain", human, charset, "quoted-printable" if re.search(r"[^\x00-\x7f]", human) else "7bit")
    p2 = ("Content-Type: message/delivery-status\n", status)
    if chance(iid, "dsnfull", 50):
        full = orig + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n' + base64.encodebytes(reminder_text(sup, it, rem).encode()).decode().rstrip("\n") + "\n"
        p3 = ("Content-Type: message/rfc822\n", full)
    else:
        p3 = ("Content-Type: text/rfc822-headers\n", orig)
    bnd = f"{h(iid, 'dsnb') % 16**10:010X}.{h(iid, 'dsnc') % 10**10}/{mta}"
    top = multipart("report", [p1, p2, p3], bnd, "; report-type=delivery-status")
    frm = fmt_addr(it.get("from_name") or "Mail Delivery System", it["from_addr"], "utf-8")
    hdrs = [f"From: {frm}", f"To: {sup['sender_addr']}", f"Subject: {encode_header(subject, 'utf-8')}",
            f"Date: {format_datetime(reply_dt)}", f"Message-ID: <{h(iid, 'dsnid') % 10**12}.dsn@{mta}>", "MIME-Version: 1.0"]
    if style == "postfix":
        hdrs.insert(0, "Auto-Submitted: auto-replied")
    extra = dict(it.get("headers") or {})
    hdrs = [l for l in hdrs if not any(l.split(":", 1)[0].lower() == k.lower() for k in extra)]
    hdrs += [f"{k}: {v}" for k, v in extra.items()]
    return ("\n".join(hdrs) + "\n" + top[0] + "\n" + top[1] + "\n").encode("utf-8")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="validate the bodies only")
    ap.add_argument("--strict", action="store_true", help="fail on any invalid item or warning")
    ap.add_argument("--out", default=CORPUS, help="output root (default corpus/replies)")
    ap.add_argument("--ids", default="", help="render only these ids (comma-separated)")
    args = ap.parse_args()

    sups = load_suppliers()
    items = load_items()
    seen, good, problems, warnings = set(), [], [], []
    for it in items:
        if "_error" in it:
            problems.append(it["_error"])
            continue
        try:
            warnings += check_item(it, sups, seen)
        except Bad as e:
            problems.append(str(e))
            continue
        except (ValueError, KeyError, TypeError) as e:
            problems.append(f"{it.get('_where')}: {e!r}")
            continue
        seen.add(it["id"])
        good.append(it)
    for w in warnings:
        print("warning:", w, file=sys.stderr)
    for p in problems:
        print("SKIPPED:", p, file=sys.stderr)
    if args.strict and (problems or warnings):
        sys.exit(1)
    if args.check:
        print(f"{len(good)} valid items, {len(problems)} skipped, {len(warnings)} warnings")
        return
    for it in good:
        USED_REFS.setdefault(it["supplier"], set()).update(it["label"].get("refs") or [])
        USED_REFS[it["supplier"]].update(it.get("reminder_invoices") or [])
    wanted = set(filter(None, args.ids.split(",")))
    if wanted:
        good = [it for it in good if it["id"] in wanted]

    splits = {"dev": [], "unseen": []}
    manifest = []
    counts = {}
    for it in sorted(good, key=lambda x: x["id"]):
        sup = sups[it["supplier"]]
        raw, layout, loc, enc = render(it, sup)
        batch = it["id"].split("-")[1]
        split = "unseen" if batch == "b5" or layout in HELD_OUT else "dev"
        fname = it["id"] + ".eml"
        lab = it["label"]
        splits[split].append((fname, raw, {
            "file": fname, "lang": it["lang"], "intent": lab["intent"],
            "promised_date": lab.get("promised_date"), "refs": list(lab.get("refs") or []),
            "amount": None if lab.get("amount") is None else str(lab["amount"]),
            "return_date": lab.get("return_date")}))
        manifest.append({"id": it["id"], "split": split, "layout": layout, "locale": loc, "encoding": enc,
                         "kind": it.get("kind", "reply"), "quote": it.get("quote") or ("none" if it.get("kind") in ("auto_reply", "dsn") else "top"),
                         "supplier": it["supplier"]})
        for key in (("split", split), ("intent", f"{split}/{lab['intent']}"), ("layout", layout),
                    ("lang", f"{split}/{it['lang']}"), ("kind", it.get("kind", "reply"))):
            counts.setdefault(key[0], {}).setdefault(key[1], 0)
            counts[key[0]][key[1]] += 1

    for split, rows in splits.items():
        d = os.path.join(args.out, split)
        os.makedirs(d, exist_ok=True)
        if not wanted:
            for old in glob.glob(os.path.join(d, "*.eml")):
                os.remove(old)
        for fname, raw, _ in rows:
            with open(os.path.join(d, fname), "wb") as f:
                f.write(raw)
        if not wanted:
            with open(os.path.join(d, "labels.jsonl"), "w", encoding="utf-8") as f:
                for _, _, lab in rows:
                    f.write(json.dumps(lab, ensure_ascii=False) + "\n")
    if not wanted:
        with open(os.path.join(args.out, "manifest.jsonl"), "w", encoding="utf-8") as f:
            for m in manifest:
                f.write(json.dumps(m, ensure_ascii=False) + "\n")

    total = sum(len(r) for r in splits.values())
    print(f"{total} messages ({len(problems)} items skipped, {len(warnings)} warnings)")
    for name in ("split", "lang", "intent", "kind", "layout"):
        print(f"{name}:")
        for k, v in sorted(counts.get(name, {}).items()):
            print(f"  {k:<36} {v:>5}")


if __name__ == "__main__":
    main()
