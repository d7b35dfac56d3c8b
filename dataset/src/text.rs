//! Asins, titles and category names, with the real files' quirks: commas,
//! doubled quotes, ampersands, non-ASCII text, repeated titles and a few
//! ISBN-style asins made of digits.

use std::collections::VecDeque;

use rand::Rng;

/// Share of asins that are ISBN-10 numbers (books), all digits.
const ISBN_ASINS: f64 = 0.004;
/// Share of titles with non-ASCII text.
const NON_ASCII: f64 = 0.06;
/// Share of titles that repeat a recent one.
const REPEATED: f64 = 0.01;

const BASE36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A unique asin for row `index`: `B0` and eight base-36 characters, or
/// sometimes ten digits. Both are bijections of the index (multipliers
/// coprime to 36 and to 10), so no two rows share one.
pub fn asin(rng: &mut impl Rng, index: u64, seed: u64) -> String {
    if rng.random_bool(ISBN_ASINS) {
        const SPACE: u64 = 10_000_000_000;
        let n = (index.wrapping_mul(7_919) + seed) % SPACE;
        return format!("{n:010}");
    }
    const SPACE: u64 = 36u64.pow(8);
    let mut n = (index.wrapping_mul(1_000_003) + seed.wrapping_mul(31)) % SPACE;
    let mut tail = [b'0'; 8];
    for c in tail.iter_mut().rev() {
        *c = BASE36[(n % 36) as usize];
        n /= 36;
    }
    format!("B0{}", String::from_utf8_lossy(&tail))
}

pub fn image_id(rng: &mut impl Rng) -> String {
    (0..11)
        .map(|_| {
            let i = rng.random_range(0..62u8);
            (match i {
                0..=9 => b'0' + i,
                10..=35 => b'A' + i - 10,
                _ => b'a' + i - 36,
            }) as char
        })
        .collect()
}

const BRANDS: [&str; 12] = [
    "Amazon Basics",
    "Anker",
    "Logitech",
    "Hanes",
    "LEGO",
    "Samsung",
    "OXO",
    "Crocs",
    "Pyrex",
    "JBL",
    "Carhartt",
    "Bosch",
];
const THINGS: [&str; 16] = [
    "Wireless Earbuds",
    "Men's Crew T-Shirt",
    "Stainless Steel Water Bottle",
    "USB-C Charger",
    "Building Kit",
    "Non-Stick Frying Pan",
    "Running Shoes",
    "Backpack",
    "Desk Lamp",
    "Yoga Mat",
    "Phone Case",
    "Coffee Grinder",
    "Kids' Puzzle",
    "Cordless Drill",
    "Bath Towel Set",
    "Monitor",
];
const DETAILS: [&str; 10] = [
    "Black",
    "Pack of 3",
    "Large",
    "2-Pack, Blue",
    "for Kids & Adults",
    "30\" Wide",
    "BPA Free, 24 oz",
    "Compatible with iPhone 15",
    "Gift Set",
    "Waterproof",
];
const FOREIGN: [&str; 8] = [
    "Café Edition",
    "Größe M",
    "Crème brûlée",
    "日本製",
    "Édition limitée",
    "Piñata — Fiesta",
    "Ærø Design",
    "Ø 20 cm",
];

/// Draws titles, sometimes repeating a recent one.
#[derive(Default)]
pub struct Titles {
    recent: VecDeque<String>,
}

impl Titles {
    pub fn next(&mut self, rng: &mut impl Rng) -> String {
        if !self.recent.is_empty() && rng.random_bool(REPEATED) {
            let i = rng.random_range(0..self.recent.len());
            return self.recent[i].clone();
        }
        let mut title = format!(
            "{} {}, {}",
            BRANDS[rng.random_range(0..BRANDS.len())],
            THINGS[rng.random_range(0..THINGS.len())],
            DETAILS[rng.random_range(0..DETAILS.len())],
        );
        if rng.random_bool(NON_ASCII) {
            title.push_str(" - ");
            title.push_str(FOREIGN[rng.random_range(0..FOREIGN.len())]);
        }
        if self.recent.len() == 64 {
            self.recent.pop_front();
        }
        self.recent.push_back(title.clone());
        title
    }
}

const CATEGORY_BASES: [&str; 30] = [
    "Arts, Crafts & Sewing",
    "Automotive",
    "Baby",
    "Beauty & Personal Care",
    "Books",
    "Cell Phones & Accessories",
    "Clothing, Shoes & Jewelry",
    "Computers",
    "Electronics",
    "Garden & Outdoor",
    "Health & Household",
    "Home & Kitchen",
    "Industrial & Scientific",
    "Kitchen & Dining",
    "Luggage",
    "Men's Fashion",
    "Movies & TV",
    "Musical Instruments",
    "Office Products",
    "Pet Supplies",
    "Sports & Outdoors",
    "Tools & Home Improvement",
    "Toys & Games",
    "Video Games",
    "Women's Fashion",
    "Girls' Fashion",
    "Boys' Fashion",
    "Home Décor",
    "Smart Home",
    "Camera & Photo",
];
const CATEGORY_KINDS: [&str; 10] = [
    "",
    "Accessories",
    "Storage",
    "Supplies",
    "Parts",
    "Care",
    "Gifts",
    "Essentials",
    "Sets",
    "Products",
];

/// A name for category `id`, unique for ids 1 to 300.
pub fn category_name(id: i64) -> String {
    let id = id.unsigned_abs() as usize;
    let base = CATEGORY_BASES[id % CATEGORY_BASES.len()];
    match CATEGORY_KINDS[(id / CATEGORY_BASES.len()) % CATEGORY_KINDS.len()] {
        "" => base.to_owned(),
        kind => format!("{base} {kind}"),
    }
}
