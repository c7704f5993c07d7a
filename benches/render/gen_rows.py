#!/usr/bin/env python3
"""Writes N rows for templates/two-scene-promo.json (default 100,000) to stdout as CSV."""
import csv, sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
firsts = ["Ann", "Bo", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gus", "Hana", "Ines", "Jamal", "李雷", "Zoë"]
offers = [
    "Your 20% loyalty discount is waiting.",
    'Spring tickets are 2-for-1, "no strings attached".',
    "We saved you a seat at the summit, 15–17 May.",
    "Your free upgrade, on us 🎉.",
]
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["customer_id", "first_name", "company", "campaign", "offer", "photo_url", "photo_scale",
            "outro_video_url", "@videoImage-1hguqu268jj/volume:int"])
for i in range(n):
    w.writerow([f"C{i:07d}", firsts[i % len(firsts)], f"Company {i % 97}", "Spring promo", offers[i % len(offers)],
                f"https://cdn-studio.aistudios.com/images/{i:024x}.jpg", f"0.{10 + i % 80}",
                "https://cdn-studio.aistudios.com/videos/658279796cebbf10f29e2c5b.mp4", "" if i % 3 else str(1 + i % 100)])
