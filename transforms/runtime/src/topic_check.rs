//! `shelf transform run` reads and writes the topics its chain was
//! deployed with. A topic setting given to `run` (flag or environment)
//! that names another topic would be ignored, so it is refused: a run
//! that set `--topic-product-clean` before deploying its chain once wrote
//! 200,000 records into the shared default `product-clean`.

use shelf_config::Topics;

use crate::registry::ChainSpec;

/// A topic setting that differs from the chain's own topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--{flag} (or {env}) is `{given}`, but chain `{chain}` {role} `{own}`: the chain's topics \
     are set when it is deployed. Redeploy it with `shelf transform chain <MODULES> --name \
     {chain} --{option} {given}`, or leave the setting out"
)]
pub struct IgnoredTopic {
    pub flag: &'static str,
    pub env: &'static str,
    pub given: String,
    pub chain: String,
    pub role: &'static str,
    pub own: String,
    pub option: &'static str,
}

/// Refuses topic settings that differ from both their default (so they
/// were given) and the chain's topic (so they would be ignored).
pub fn check(given: &Topics, chain: &ChainSpec) -> Result<(), Box<IgnoredTopic>> {
    let defaults = Topics::default();
    let checks = [
        (
            "topic-ingest-product",
            "SHELF_TOPIC_INGEST_PRODUCT",
            &given.ingest_product,
            &defaults.ingest_product,
            "reads",
            &chain.input,
            "input",
        ),
        (
            "topic-product-clean",
            "SHELF_TOPIC_PRODUCT_CLEAN",
            &given.product_clean,
            &defaults.product_clean,
            "writes to",
            &chain.output,
            "output",
        ),
        (
            "topic-product-dlq",
            "SHELF_TOPIC_PRODUCT_DLQ",
            &given.product_dlq,
            &defaults.product_dlq,
            "sends rejects to",
            &chain.dlq,
            "dlq",
        ),
    ];
    for (flag, env, given, default, role, own, option) in checks {
        if given != default && given != own {
            return Err(Box::new(IgnoredTopic {
                flag,
                env,
                given: given.clone(),
                chain: chain.name.clone(),
                role,
                own: own.clone(),
                option,
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(input: &str, output: &str, dlq: &str) -> ChainSpec {
        ChainSpec::new("default", 1, vec!["m".into()], input, output, dlq)
    }

    #[test]
    fn a_given_topic_the_chain_does_not_use_is_refused_by_name() {
        let given = Topics {
            product_clean: "team-a-clean".into(),
            ..Topics::default()
        };
        let err = check(
            &given,
            &chain("ingest-product", "product-clean", "product-dlq"),
        )
        .unwrap_err();
        assert_eq!(err.flag, "topic-product-clean");
        let text = err.to_string();
        assert!(
            text.contains("`team-a-clean`") && text.contains("`product-clean`"),
            "{text}"
        );
        assert!(text.contains("--output team-a-clean"), "{text}");
    }

    #[test]
    fn defaults_and_the_chains_own_topics_pass() {
        let own = chain("a-in", "a-out", "a-dlq");
        assert_eq!(check(&Topics::default(), &own), Ok(()));
        let given = Topics {
            ingest_product: "a-in".into(),
            product_clean: "a-out".into(),
            product_dlq: "a-dlq".into(),
            ..Topics::default()
        };
        assert_eq!(check(&given, &own), Ok(()));
    }
}
