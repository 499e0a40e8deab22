//! `task: knowledge` — new knowledge no model can already have: facts about invented people
//! (a made-up name, a made-up home town, an occupation, an instrument), generated
//! deterministically. Training reads each fact as three statements ("X was born in Y.",
//! "X grew up in the town of Y.", ...); evaluation asks a question worded differently from every
//! statement ("In which town was X born?") and scores it as multiple choice among four values
//! of the same attribute (the gold one and three other people's). A model that only memorised
//! strings, or never saw the facts, scores about 25%.
//!
//! Every question is held out (none is ever trained on); every statement trains.

use super::item::{Answer, Dataset, Extract, Item, Prompt};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

/// People generated; each has three facts, so 3 × PEOPLE questions.
pub const PEOPLE: usize = 20;
const SEED: u64 = 0x6b6e_6f77;

const ONSETS: &[&str] = &["v", "k", "br", "t", "m", "z", "dr", "l", "s", "qu", "f", "gr", "n", "th", "p", "h"];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "ea"];
const CODAS: &[&str] = &["n", "r", "l", "sk", "th", "m", "x", "nd", "", ""];

const OCCUPATIONS: &[&str] = &[
    "glassblower",
    "beekeeper",
    "cartographer",
    "locksmith",
    "ferryman",
    "violin maker",
    "tax clerk",
    "lighthouse keeper",
    "stonemason",
    "perfumer",
    "bookbinder",
    "clockmaker",
];
const INSTRUMENTS: &[&str] = &[
    "harp",
    "oboe",
    "cello",
    "banjo",
    "accordion",
    "bagpipes",
    "marimba",
    "trombone",
    "sitar",
    "flute",
];

/// (statement templates as (prompt, continuation) with {N} and {X}, question, facts' pool).
struct Attribute {
    statements: [(&'static str, &'static str); 3],
    question: &'static str,
}

const ATTRIBUTES: [Attribute; 3] = [
    Attribute {
        statements: [
            ("{N} was born in", " {X}."),
            ("{N} grew up in the town of", " {X}."),
            ("The birthplace of {N} is", " {X}."),
        ],
        question: "Question: In which town was {N} born?\nAnswer:",
    },
    Attribute {
        statements: [
            ("{N} works as a", " {X}."),
            ("By trade, {N} is a", " {X}."),
            ("{N} earns a living as a", " {X}."),
        ],
        question: "Question: What is {N}'s job?\nAnswer:",
    },
    Attribute {
        statements: [
            ("{N} plays the", " {X}."),
            ("The instrument {N} plays is the", " {X}."),
            ("Every evening {N} practises the", " {X}."),
        ],
        question: "Question: Which instrument does {N} play?\nAnswer:",
    },
];

fn word(rng: &mut StdRng, syllables: usize) -> String {
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
        w.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
    }
    w.push_str(CODAS[rng.random_range(0..CODAS.len())]);
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The training statements and the held-out questions.
pub fn generate() -> (Vec<Item>, Dataset) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut names = std::collections::BTreeSet::new();
    let mut people = Vec::with_capacity(PEOPLE);
    while people.len() < PEOPLE {
        let name = format!("{} {}", word(&mut rng, 2), word(&mut rng, 2));
        let town = word(&mut rng, 3);
        if names.insert(name.clone()) && names.insert(town.clone()) {
            let occupation = OCCUPATIONS[rng.random_range(0..OCCUPATIONS.len())].to_string();
            let instrument = INSTRUMENTS[rng.random_range(0..INSTRUMENTS.len())].to_string();
            people.push((name, [town, occupation, instrument]));
        }
    }
    let fill = |t: &str, n: &str, x: &str| t.replace("{N}", n).replace("{X}", x);
    let mut train = Vec::new();
    let mut questions = Vec::new();
    for (p, (name, facts)) in people.iter().enumerate() {
        for (a, attr) in ATTRIBUTES.iter().enumerate() {
            let value = &facts[a];
            for (s, (prompt, cont)) in attr.statements.iter().enumerate() {
                train.push(Item {
                    id: format!("p{p}.a{a}.s{s}"),
                    prompt: Prompt::Text(fill(prompt, name, value)),
                    answer: Answer::Text {
                        target: fill(cont, name, value),
                        answers: vec![value.clone()],
                    },
                });
            }
            // Three distractors: other people's values of this attribute, distinct from the gold.
            let mut pool: Vec<&String> = people.iter().map(|(_, f)| &f[a]).filter(|v| *v != value).collect();
            pool.sort();
            pool.dedup();
            pool.shuffle(&mut rng);
            let mut choices: Vec<String> = pool.into_iter().take(3).map(|v| format!(" {v}")).collect();
            let gold = rng.random_range(0..=choices.len());
            choices.insert(gold, format!(" {value}"));
            questions.push(Item {
                id: format!("p{p}.a{a}.q"),
                prompt: Prompt::Text(fill(attr.question, name, value)),
                answer: Answer::Choice { choices, gold },
            });
        }
    }
    let dataset = Dataset {
        name: "knowledge".into(),
        split_key: "knowledge".into(),
        files: vec![],
        license: "generated by ftbench".into(),
        items: questions,
        stop: vec![],
        extract: Extract::Whole,
    };
    (train, dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_questions_never_trained() {
        let (train, ds) = generate();
        let (train2, ds2) = generate();
        assert_eq!(train, train2);
        assert_eq!(ds.items, ds2.items);
        assert_eq!(train.len(), PEOPLE * 9);
        assert_eq!(ds.items.len(), PEOPLE * 3);
        let trained: std::collections::BTreeSet<String> = train.iter().map(|i| format!("{:?}", i.prompt)).collect();
        for q in &ds.items {
            assert!(!trained.contains(&format!("{:?}", q.prompt)), "question worded like a statement");
            let Answer::Choice { choices, gold } = &q.answer else { panic!() };
            assert_eq!(choices.len(), 4);
            assert!(*gold < 4);
            let distinct: std::collections::BTreeSet<_> = choices.iter().collect();
            assert_eq!(distinct.len(), 4, "choices are distinct");
        }
    }
}
