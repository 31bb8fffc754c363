"""Short documents on distinct topics, each with a question that paraphrases a long
sentence of it: the short-document side of the evaluation tests and benches."""

TOPICS = {
    "bees": "Honeybee colonies overwinter by forming a tight cluster around the queen, and "
    "the workers shiver their flight muscles to keep the centre of the cluster near thirty "
    "five degrees while the outer layer of bees acts as insulation against the cold air.",
    "volcano": "The eruption of the stratovolcano began with a column of ash that rose "
    "eighteen kilometres into the stratosphere, and pyroclastic flows travelled down the "
    "northern flank, burying the abandoned villages in the valley under hot pumice.",
    "bread": "A sourdough starter is a stable culture of wild yeasts and lactic acid "
    "bacteria, and the baker feeds it daily with flour and water so that the acids it "
    "produces give the loaf its sour flavour, its open crumb and a crust that keeps.",
    "tides": "Spring tides occur twice each lunar month when the sun, the moon and the "
    "earth line up, so that the pulls of the sun and the moon add together and the range "
    "between high water and low water along the coast becomes the largest of the month.",
}
QUESTIONS = {
    "bees": "How do hives stay warm in the cold season?",
    "volcano": "How high did the ash cloud go and what happened to the villages?",
    "bread": "What makes a fermented loaf taste tangy?",
    "tides": "Why are some sea level swings bigger than others?",
}
"""Paraphrases: the words of a question are not the words of its answer."""

MORE_TOPICS = {
    "lighthouse": "The lighthouse keeper wound the clockwork every four hours through the "
    "night, so that the great lens kept turning and its beam swept the reef once every "
    "twelve seconds, a signature the captains knew from every other light on the coast.",
    "glacier": "Over the last century the valley glacier retreated almost three kilometres "
    "up the valley, leaving behind a lake dammed by its old terminal moraine and bare "
    "polished rock where the ice had scoured the bedrock for thousands of years.",
    "violin": "The luthier carved the spruce top and maple back by hand, then tuned the "
    "plates by tapping them and listening, because the thickness of the wood decides how "
    "freely the body vibrates and therefore how warm and loud the instrument sounds.",
    "vaccine": "The vaccine trial enrolled thirty thousand volunteers, half of whom received "
    "a placebo injection, and the infections counted in each group after six months "
    "showed that the vaccine cut symptomatic illness by about ninety per cent.",
    "railway": "When the railway reached the market town in 1847, the journey to the "
    "capital fell from two days by stagecoach to four hours by train, and within a "
    "decade the town's population had doubled as mills were built beside the line.",
    "coral": "Corals bleach when warm water makes them expel the algae living in their "
    "tissues; without the sugars the algae provide the corals starve, and if the heat "
    "lasts for weeks large parts of the reef die and are overgrown by seaweed.",
}
MORE_QUESTIONS = {
    "lighthouse": "How did the reef light keep turning, and how could sailors tell it apart?",
    "glacier": "How far has the ice shrunk back and what did it leave in the valley?",
    "violin": "Why does the instrument maker knock on the wooden boards while shaping them?",
    "vaccine": "How well did the shot protect people in the study with the dummy jab?",
    "railway": "How did the arrival of trains change travel time and the size of the town?",
    "coral": "Why do reefs turn white and die when the sea heats up?",
}
