//! The curiosity knowledge base, compiled into the binary so the source works without network.
//!
//! Owns the domains and their facts. Facts are well-established, sourced-in-textbooks
//! statements; keep them that way (no invented figures) when adding more.

/// One subject area.
#[derive(Debug)]
pub struct Domain {
    pub name: &'static str,
    /// Other names a query may use for the domain (`ai`, `bio`, ...).
    pub aliases: &'static [&'static str],
    pub description: &'static str,
    pub facts: &'static [Fact],
}

/// One fact, with keywords that a query is likely to use for it.
#[derive(Debug)]
pub struct Fact {
    pub text: &'static str,
    pub keywords: &'static [&'static str],
}

const fn fact(text: &'static str, keywords: &'static [&'static str]) -> Fact {
    Fact { text, keywords }
}

pub static DOMAINS: &[Domain] = &[
    Domain {
        name: "biology",
        aliases: &["bio", "life sciences", "life science"],
        description: "The study of living organisms: cells, genes, evolution and ecosystems.",
        facts: &[
            fact("The double-helix structure of DNA was described by James Watson and Francis Crick in 1953, building on X-ray diffraction work by Rosalind Franklin and Maurice Wilkins.", &["dna", "double helix", "watson", "crick", "franklin", "genetics"]),
            fact("The human genome contains roughly 3 billion base pairs of DNA.", &["genome", "dna", "base pairs", "genetics", "human"]),
            fact("Mitochondria, the organelles that produce most of a cell's ATP, carry their own DNA, which in humans is inherited almost entirely from the mother.", &["mitochondria", "atp", "cell", "dna", "energy"]),
            fact("Photosynthesis in plants, algae and cyanobacteria uses light energy to turn carbon dioxide and water into sugars, releasing oxygen.", &["photosynthesis", "plants", "chlorophyll", "oxygen", "carbon dioxide"]),
            fact("Charles Darwin and Alfred Russel Wallace presented the theory of evolution by natural selection in 1858; Darwin's On the Origin of Species followed in 1859.", &["evolution", "natural selection", "darwin", "wallace", "species"]),
            fact("Gregor Mendel's experiments with pea plants, published in 1866, established the basic laws of inheritance.", &["mendel", "inheritance", "heredity", "genetics", "peas"]),
            fact("The genetic code is read in three-letter codons: 64 codons specify the 20 standard amino acids and the stop signals.", &["genetic code", "codon", "amino acids", "protein", "rna"]),
            fact("Tardigrades can survive extreme dehydration by entering a dormant state called cryptobiosis.", &["tardigrades", "water bears", "cryptobiosis", "extremophiles"]),
            fact("CRISPR-Cas9 began as a bacterial defence against viruses; Emmanuelle Charpentier and Jennifer Doudna received the 2020 Nobel Prize in Chemistry for turning it into a genome-editing tool.", &["crispr", "cas9", "gene editing", "genome editing", "doudna", "charpentier"]),
            fact("A human body carries roughly as many bacterial cells as human cells, about 38 trillion bacteria against about 30 trillion human cells by a 2016 estimate.", &["microbiome", "bacteria", "cells", "gut", "human body"]),
        ],
    },
    Domain {
        name: "physics",
        aliases: &["phys", "physical sciences"],
        description: "The study of matter, energy, space and time, from particles to the cosmos.",
        facts: &[
            fact("The speed of light in vacuum is exactly 299,792,458 metres per second; since 1983 the metre has been defined from it.", &["speed of light", "light", "relativity", "metre", "constant"]),
            fact("Albert Einstein's special relativity (1905) implies mass-energy equivalence, E = mc².", &["einstein", "relativity", "energy", "mass", "e=mc2"]),
            fact("Einstein received the 1921 Nobel Prize in Physics for explaining the photoelectric effect, not for relativity.", &["einstein", "nobel", "photoelectric effect", "photon", "quantum"]),
            fact("Heisenberg's uncertainty principle (1927) states that a particle's position and momentum cannot both be known with arbitrary precision.", &["heisenberg", "uncertainty principle", "quantum mechanics", "quantum"]),
            fact("The discovery of the Higgs boson by the ATLAS and CMS experiments at CERN's Large Hadron Collider was announced on 4 July 2012.", &["higgs boson", "cern", "lhc", "particle physics", "large hadron collider"]),
            fact("Gravitational waves were first detected directly by LIGO on 14 September 2015, from two merging black holes.", &["gravitational waves", "ligo", "black holes", "einstein", "relativity"]),
            fact("Absolute zero, 0 kelvin, equals −273.15 degrees Celsius.", &["absolute zero", "kelvin", "temperature", "thermodynamics", "cold"]),
            fact("Physics knows four fundamental interactions: gravitation, electromagnetism, the strong interaction and the weak interaction.", &["fundamental forces", "gravity", "electromagnetism", "strong force", "weak force"]),
            fact("The second law of thermodynamics says the entropy of an isolated system never decreases.", &["thermodynamics", "entropy", "second law", "heat"]),
            fact("Quantum computers use qubits, which can be in superpositions of 0 and 1; Peter Shor showed in 1994 that a quantum computer could factor large integers efficiently.", &["quantum computing", "quantum computer", "qubit", "shor", "superposition", "cryptography"]),
        ],
    },
    Domain {
        name: "medicine",
        aliases: &["med", "medical", "health", "healthcare"],
        description: "The science and practice of diagnosing, treating and preventing disease.",
        facts: &[
            fact("Alexander Fleming discovered penicillin in 1928 after noticing that a Penicillium mould killed bacteria on a culture plate.", &["penicillin", "fleming", "antibiotics", "bacteria", "mould"]),
            fact("Edward Jenner demonstrated vaccination against smallpox in 1796, using material from cowpox.", &["vaccine", "vaccination", "jenner", "smallpox", "cowpox", "immunization"]),
            fact("The World Health Organization declared smallpox eradicated in 1980, the first human disease eliminated worldwide.", &["smallpox", "eradication", "who", "vaccine", "disease"]),
            fact("William Harvey described the circulation of the blood, pumped by the heart, in 1628.", &["harvey", "circulation", "blood", "heart", "cardiology"]),
            fact("Insulin was isolated in 1921 by Frederick Banting and Charles Best in Toronto and was first used to treat a diabetic patient in 1922.", &["insulin", "diabetes", "banting", "best", "hormone"]),
            fact("Wilhelm Röntgen discovered X-rays in 1895 and received the first Nobel Prize in Physics in 1901.", &["x-rays", "xray", "rontgen", "roentgen", "radiology", "imaging"]),
            fact("Karl Landsteiner discovered the ABO blood groups in 1901.", &["blood groups", "blood type", "landsteiner", "transfusion", "abo"]),
            fact("Christiaan Barnard performed the first human-to-human heart transplant in Cape Town in 1967.", &["heart transplant", "transplant", "barnard", "surgery", "heart"]),
            fact("Antibiotics work against bacteria but not against viruses; their overuse drives antimicrobial resistance.", &["antibiotics", "resistance", "antimicrobial resistance", "bacteria", "viruses"]),
            fact("Katalin Karikó and Drew Weissman received the 2023 Nobel Prize in Physiology or Medicine for the nucleoside modifications that made mRNA vaccines against COVID-19 possible.", &["mrna", "vaccine", "covid-19", "covid", "kariko", "weissman", "nobel"]),
        ],
    },
    Domain {
        name: "artificial intelligence",
        aliases: &["ai", "machine learning", "ml", "deep learning"],
        description: "Computer systems that perform tasks associated with human intelligence: reasoning, learning, perception and language.",
        facts: &[
            fact("The term \"artificial intelligence\" comes from the proposal for the 1956 Dartmouth summer workshop by John McCarthy, Marvin Minsky, Nathaniel Rochester and Claude Shannon.", &["dartmouth", "mccarthy", "minsky", "history", "artificial intelligence"]),
            fact("Alan Turing proposed the imitation game, now called the Turing test, in his 1950 paper \"Computing Machinery and Intelligence\".", &["turing", "turing test", "imitation game", "history"]),
            fact("Frank Rosenblatt introduced the perceptron, an early artificial neural network, in 1958.", &["perceptron", "rosenblatt", "neural network", "neural networks"]),
            fact("Rumelhart, Hinton and Williams popularised backpropagation for training multi-layer neural networks in 1986.", &["backpropagation", "hinton", "neural network", "neural networks", "training"]),
            fact("IBM's Deep Blue defeated world chess champion Garry Kasparov in a six-game match in 1997.", &["deep blue", "chess", "kasparov", "ibm", "games"]),
            fact("AlexNet won the 2012 ImageNet image-classification challenge by a wide margin, starting the deep-learning boom.", &["alexnet", "imagenet", "deep learning", "computer vision", "neural networks"]),
            fact("DeepMind's AlphaGo beat Lee Sedol, one of the strongest Go players, 4–1 in March 2016.", &["alphago", "deepmind", "go", "lee sedol", "reinforcement learning", "games"]),
            fact("The transformer architecture, the basis of today's large language models, was introduced in the 2017 paper \"Attention Is All You Need\".", &["transformer", "attention", "large language models", "llm", "gpt", "nlp"]),
            fact("Yoshua Bengio, Geoffrey Hinton and Yann LeCun received the 2018 ACM Turing Award for their work on deep learning.", &["turing award", "hinton", "lecun", "bengio", "deep learning"]),
            fact("Demis Hassabis and John Jumper shared half of the 2024 Nobel Prize in Chemistry for AlphaFold's protein structure prediction.", &["alphafold", "protein folding", "deepmind", "hassabis", "jumper", "nobel"]),
        ],
    },
    Domain {
        name: "environment",
        aliases: &["env", "environmental", "ecology", "climate change", "sustainability"],
        description: "Earth's climate, ecosystems and the human impact on them.",
        facts: &[
            fact("Atmospheric carbon dioxide was about 280 parts per million before the industrial era; the Mauna Loa record begun by Charles David Keeling in 1958 first showed a daily average above 400 ppm in 2013.", &["carbon dioxide", "co2", "keeling", "mauna loa", "climate change", "greenhouse gases"]),
            fact("The 2015 Paris Agreement aims to hold global warming well below 2 °C above pre-industrial levels and to pursue efforts to limit it to 1.5 °C.", &["paris agreement", "climate change", "global warming", "cop21", "treaty"]),
            fact("The 1987 Montreal Protocol phases out ozone-depleting substances such as CFCs, and the ozone layer is slowly recovering.", &["montreal protocol", "ozone", "cfcs", "ozone layer", "treaty"]),
            fact("The Antarctic ozone hole was reported in 1985 by Joseph Farman, Brian Gardiner and Jonathan Shanklin of the British Antarctic Survey.", &["ozone hole", "ozone", "antarctica", "farman", "cfcs"]),
            fact("The Amazon is the largest tropical rainforest on Earth.", &["amazon", "rainforest", "forests", "biodiversity", "deforestation"]),
            fact("The oceans have absorbed roughly a quarter of the carbon dioxide emitted by human activity, which makes seawater more acidic.", &["ocean acidification", "oceans", "carbon dioxide", "co2", "carbon sink"]),
            fact("Corals bleach when heat stress makes them expel the symbiotic algae living in their tissues.", &["coral bleaching", "coral reefs", "corals", "ocean warming", "algae"]),
            fact("Over 20 years, a tonne of methane traps roughly 80 times as much heat as a tonne of carbon dioxide.", &["methane", "greenhouse gases", "global warming potential", "climate change"]),
            fact("Rachel Carson's 1962 book Silent Spring, about the harm done by pesticides such as DDT, helped launch the modern environmental movement.", &["rachel carson", "silent spring", "ddt", "pesticides", "conservation"]),
            fact("The first Earth Day was held on 22 April 1970.", &["earth day", "environmental movement", "history", "conservation"]),
        ],
    },
];
