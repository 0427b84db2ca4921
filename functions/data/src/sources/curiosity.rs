//! Curiosity: facts from the built-in knowledge base (`crate::knowledge`), no network.
//!
//! A query that names a domain (or an alias such as `ai`) gets that domain's facts in order.
//! Otherwise every fact is scored against the query's words — a keyword match weighs 3, a word
//! of the fact's text 1, a whole multi-word keyword found in the query 4 more, and a query
//! word naming the fact's domain 2 more — and the best are returned. No match is an empty list
//! with a hint, not an error.

use std::collections::HashSet;

use serde::Serialize;

use crate::knowledge::{Domain, Fact, DOMAINS};

const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "can",
    "did",
    "do",
    "does",
    "fact",
    "facts",
    "for",
    "from",
    "has",
    "have",
    "how",
    "i",
    "in",
    "interesting",
    "into",
    "is",
    "it",
    "its",
    "know",
    "me",
    "more",
    "my",
    "of",
    "on",
    "or",
    "some",
    "tell",
    "that",
    "the",
    "their",
    "this",
    "to",
    "was",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "with",
    "you",
];

/// The `data` of a curiosity result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CuriosityResults {
    /// Set when the query named a domain; the facts are then that domain's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_domain: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_description: Option<&'static str>,
    pub facts: Vec<FactMatch>,
    /// Set when nothing matched: what the knowledge base can answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactMatch {
    pub domain: &'static str,
    pub fact: &'static str,
    pub score: u32,
}

/// The knowledge base's answer: "nothing matched" (with the hint) when no fact matches.
pub(super) fn answer(query: &str, max_results: usize) -> Result<super::Answer, super::SourceError> {
    let results = search(query, max_results);
    match results.hint.clone() {
        Some(hint) => super::Answer::nothing(results, hint),
        None => super::Answer::matched(results),
    }
}

/// Searches the knowledge base; at most `max_results` facts, best first.
pub fn search(query: &str, max_results: usize) -> CuriosityResults {
    let words = tokens(query);
    let phrase = words.join(" ");

    if let Some(domain) = DOMAINS.iter().find(|domain| names_domain(domain, &phrase)) {
        return CuriosityResults {
            matched_domain: Some(domain.name),
            domain_description: Some(domain.description),
            facts: domain
                .facts
                .iter()
                .take(max_results)
                .map(|fact| FactMatch {
                    domain: domain.name,
                    fact: fact.text,
                    score: 0,
                })
                .collect(),
            hint: None,
        };
    }

    let (words, phrase) = (&words, &phrase);
    let mut matches: Vec<FactMatch> = DOMAINS
        .iter()
        .flat_map(|domain| {
            domain.facts.iter().map(move |fact| FactMatch {
                domain: domain.name,
                fact: fact.text,
                score: score(domain, fact, words, phrase),
            })
        })
        .filter(|candidate| candidate.score > 0)
        .collect();
    // Stable sort: equal scores keep the knowledge base's order.
    matches.sort_by_key(|candidate| std::cmp::Reverse(candidate.score));
    matches.truncate(max_results);

    let hint = matches.is_empty().then(|| {
        format!(
            "no fact matches \"{query}\"; the knowledge base covers {} — name one of them (or an alias such as \"ai\") to browse its facts",
            DOMAINS
                .iter()
                .map(|domain| domain.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    CuriosityResults {
        matched_domain: None,
        domain_description: None,
        facts: matches,
        hint,
    }
}

fn names_domain(domain: &Domain, phrase: &str) -> bool {
    !phrase.is_empty()
        && (tokens(domain.name).join(" ") == phrase
            || domain
                .aliases
                .iter()
                .any(|alias| tokens(alias).join(" ") == phrase))
}

fn score(domain: &Domain, fact: &Fact, words: &[String], phrase: &str) -> u32 {
    let keyword_words: HashSet<String> = fact.keywords.iter().flat_map(|k| tokens(k)).collect();
    let text_words: HashSet<String> = tokens(fact.text).into_iter().collect();
    let mut score: u32 = 0;
    for word in words {
        if keyword_words.contains(word) {
            score += 3;
        } else if text_words.contains(word) {
            score += 1;
        }
    }
    if score == 0 {
        // The domain bonus only ranks facts that matched on their own.
        return 0;
    }
    let padded = format!(" {phrase} ");
    for keyword in fact.keywords {
        let keyword = tokens(keyword).join(" ");
        if keyword.contains(' ') && padded.contains(&format!(" {keyword} ")) {
            score += 4;
        }
    }
    let domain_words: HashSet<String> = std::iter::once(domain.name)
        .chain(domain.aliases.iter().copied())
        .flat_map(tokens)
        .collect();
    if words.iter().any(|word| domain_words.contains(word)) {
        score += 2;
    }
    score
}

/// Lowercase words without stop words, with a naive plural folding (`qubits` → `qubit`,
/// `bodies` → `body`) so that singular and plural match.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .map(|word| fold_plural(&word))
        .collect()
}

fn fold_plural(word: &str) -> String {
    if word.chars().count() > 4 {
        if let Some(stem) = word.strip_suffix("ies") {
            return format!("{stem}y");
        }
    }
    if word.chars().count() > 3
        && word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
    {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_has_a_description_and_at_least_eight_facts() {
        let names: Vec<_> = DOMAINS.iter().map(|d| d.name).collect();
        for required in [
            "biology",
            "physics",
            "medicine",
            "artificial intelligence",
            "environment",
        ] {
            assert!(names.contains(&required), "missing domain {required}");
        }
        for domain in DOMAINS {
            assert!(!domain.description.is_empty(), "{}", domain.name);
            assert!(
                domain.facts.len() >= 8,
                "{} has {} facts",
                domain.name,
                domain.facts.len()
            );
            for fact in domain.facts {
                assert!(!fact.keywords.is_empty(), "{}: {}", domain.name, fact.text);
            }
        }
    }

    #[test]
    fn naming_a_domain_or_alias_returns_its_facts() {
        for (query, domain) in [
            ("AI", "artificial intelligence"),
            ("artificial intelligence", "artificial intelligence"),
            ("facts about biology", "biology"),
            ("bio", "biology"),
            ("Medicine", "medicine"),
        ] {
            let results = search(query, 5);
            assert_eq!(results.matched_domain, Some(domain), "case {query:?}");
            assert_eq!(results.facts.len(), 5, "case {query:?}");
            assert!(
                results.facts.iter().all(|f| f.domain == domain),
                "case {query:?}"
            );
        }
    }

    #[test]
    fn free_text_ranks_the_best_matching_facts_first() {
        let results = search("quantum computing", 3);
        assert_eq!(results.matched_domain, None);
        assert!(results.facts[0].fact.contains("qubits"), "{results:?}");
        assert!(results.facts.len() <= 3);
        assert!(results.facts.windows(2).all(|w| w[0].score >= w[1].score));

        let results = search("Who discovered penicillin?", 5);
        assert!(results.facts[0].fact.contains("Fleming"), "{results:?}");
    }

    #[test]
    fn no_match_is_an_empty_list_with_a_hint() {
        let results = search("zxqv blorptastic", 5);
        assert!(results.facts.is_empty());
        assert!(results.hint.unwrap().contains("biology"));
    }

    #[test]
    fn plurals_fold_to_singular() {
        assert_eq!(tokens("Qubits and black holes"), ["qubit", "black", "hole"]);
    }
}
