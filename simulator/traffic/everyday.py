"""Everyday families: simple queries, chat and support, editing content, reasoning, creative writing."""

from simulator.traffic.family import Profile, f

_SHORT = ("Just the answer, please.", "One line is enough.", "Short answer please.")

SIMPLE = Profile(
    weight=0.20, beta=(1.5, 5.0), max_clauses=1,
    systems={"none": 0.55, "assistant": 0.35, "support": 0.1},
    families=(
        f(0.05, "What's the capital of {country}?", "Capital of {country}?", clauses=_SHORT),
        f(0.1, "How many {units_a} are in {unit_b}?", "How many {units_a} make {unit_b}?", clauses=_SHORT),
        f(0.2, "What's the default port for {port_service}?", "Which port does {port_service} use by default?",
          clauses=_SHORT),
        f(0.15, "What does {acronym} stand for?", "{acronym}: what does it stand for?", clauses=_SHORT),
        f(0.2, "How do I {git_task} in git?", "git question: how do I {git_task}?", clauses=_SHORT),
        f(0.1, "Who wrote {book}?", "Who's the author of {book}?", clauses=_SHORT),
        f(0.15, "What is {temp} degrees Celsius in Fahrenheit?", "Convert {temp}°C to Fahrenheit.", clauses=_SHORT),
        f(0.4, "What's the difference between {concept_a} and {concept_b}?",
          "Difference between {concept_a} and {concept_b}?", clauses=_SHORT),
        f(0.3, "How do you write {a_syntax_thing} in {plang}?", "What's the syntax for {a_syntax_thing} in {plang}?",
          clauses=_SHORT),
        f(0.15, "What time is it in {city} when it's noon in {city2}?",
          "If it's noon in {city2}, what time is it in {city}?", clauses=_SHORT),
        f(0.25, "When did {event}?", "What year did {event}?", clauses=_SHORT),
        f(0.25, "What's the shortcut to {shortcut_task} in {editor}?",
          "Keyboard shortcut to {shortcut_task} in {editor}?", clauses=_SHORT),
        f(0.35, "What's the default transaction isolation level in {sql_db}?",
          "Which isolation level does {sql_db} use by default?", clauses=_SHORT),
        f(0.3, "What does HTTP status {http_status} mean?", "HTTP {http_status}: what does it mean?", clauses=_SHORT),
    ),
)

_SUPPORT = ("I already tried restarting the app.", "I'm on my phone, so short replies please.",
            "I'm on the {plan} plan, if that matters.", "Sorry if this is a silly question.")

CONVERSATION = Profile(
    weight=0.17, beta=(1.2, 6.0), max_clauses=2,
    systems={"none": 0.3, "support": 0.45, "assistant": 0.25},
    families=(
        f(0.05, "Hi! How's your day going?", "Hey there, how are you today?"),
        f(0.2, "My order {order_id} still hasn't arrived and it's been {n} days. Can you help?",
          "It's been {n} days and order {order_id} is still not here. What's going on?", clauses=_SUPPORT),
        f(0.2, "I'd like to cancel my {plan} subscription.", "How do I cancel the {plan} plan?", clauses=_SUPPORT),
        f(0.05, "Thanks, that fixed it!", "That worked, thank you so much!"),
        f(0.3, "Let's play a game: you're {a_character} and I'm a traveller asking for directions.",
          "Can you play {a_character}? I'll be a lost traveller asking the way.",
          clauses=("Stay in character the whole time.", "Keep your replies short.")),
        f(0.15, "Good morning! Any tips for staying focused when working from home?",
          "Morning! How do you stay focused working from home?"),
        f(0.25, "I was charged twice for the {plan} plan this month. Can one of the charges be refunded?",
          "There are two charges for my {plan} plan this month. Could you refund one?", clauses=_SUPPORT),
        f(0.15, "I'm bored. Tell me something fun about {hobby}.", "Talk to me about {hobby}, I'm bored.",
          clauses=("Keep it light.",)),
        f(0.2, "I can't log in, it says my password is wrong even though I just reset it.",
          "Password reset didn't help, I still can't get into my account.", clauses=_SUPPORT),
        f(0.3, "I've had a rough week at work. Can we just talk for a bit?",
          "Rough week. Mind if I vent for a minute?"),
        f(0.1, "Do you have a name?", "What should I call you?"),
        f(0.2, "Can you recommend {a_genre} movie for tonight?", "Any good {genre} film for tonight?",
          clauses=("Nothing longer than two hours.", "I've seen most of the big ones.")),
        f(0.15, "ok cool, see you tomorrow", "alright, bye for now!"),
        f(0.25, "Can I change the delivery address on order {order_id}?",
          "I need to update the shipping address for order {order_id}.", clauses=_SUPPORT),
    ),
)

_PROSE_FAITHFUL = ("Keep every number exactly as it is.", "Don't add anything that isn't in the original.")
_PROSE_STYLE = ("Use British spelling.", "Avoid jargon.", "End with a one-sentence takeaway.",
                "Keep it under {n_words} words.")

PROSE = Profile(
    weight=0.09, beta=(2.0, 3.5), max_clauses=4,
    systems={"none": 0.35, "writer": 0.4, "assistant": 0.25},
    families=(
        f(0.3, "Summarize this paragraph: {paragraph}", "Can you give me a short summary of this?\n\n{paragraph}",
          clauses=_PROSE_FAITHFUL + _PROSE_STYLE),
        f(0.35, "Translate this into {language}:\n\n{paragraph}",
          "Please translate the following text to {language}.\n\n{paragraph}",
          clauses=_PROSE_FAITHFUL + ("Keep company and place names in English.", "Use a formal register.",
                                     "Keep the sentence breaks as they are.")),
        f(0.25, "Proofread this email and fix the grammar and spelling:\n\n{email_text}",
          "Fix the typos and grammar in this email before I send it:\n\n{email_text}",
          clauses=("Don't change the meaning.", "Keep it sounding like me.", "List the changes you made.")),
        f(0.5, "Write {a_n_words}-word blog post about {topic} for {audience}.",
          "I need a blog post on {topic}, around {n_words} words, aimed at {audience}.",
          clauses=_PROSE_STYLE[:3] + ("Include a catchy headline.", "Use {a_tone} tone.")),
        f(0.35, "Rewrite this paragraph in a more {tone} tone:\n\n{paragraph}",
          "Make this sound more {tone}:\n\n{paragraph}",
          clauses=_PROSE_FAITHFUL + ("Keep it about the same length.",)),
        f(0.3, "Turn these meeting notes into a short update email for the team:\n\n{notes}",
          "Write up these notes as a brief email to the team:\n\n{notes}",
          clauses=("Put the action items at the top.", "Keep it under {n_words} words.", "Use {a_tone} tone.",
                   "Mention owners by name.")),
        f(0.4, "Write a LinkedIn post announcing that {company} is hiring {k1} engineers in {city}.",
          "Draft a LinkedIn announcement: {company} is opening {k1} engineering roles in {city}.",
          clauses=("Keep it under {n_words} words.", "Use {a_tone} tone.", "Add three hashtags.",
                   "Mention that hours are flexible.")),
        f(0.55, "Write a newsletter article explaining {topic} to {audience}, with a headline and three "
                "subheadings.",
          "Explain {topic} for {audience} in a newsletter piece: headline, three subheadings.",
          clauses=_PROSE_STYLE),
        f(0.3, "Shorten this to three bullet points:\n\n{paragraph}",
          "Boil this down to three bullets:\n\n{paragraph}",
          clauses=_PROSE_FAITHFUL + ("Each bullet under {k2} words.",)),
        f(0.35, "Write a polite reply to this customer that declines the refund but offers store credit:"
                "\n\n{customer_email}",
          "Reply to this customer kindly: no refund, but offer store credit.\n\n{customer_email}",
          clauses=("Use {a_tone} tone.", "Keep it under {n_words} words.",
                   "Mention that store credit never expires.")),
        f(0.45, "Simplify this paragraph so a teenager could follow it:\n\n{paragraph}",
          "Rewrite this in plain language a teenager would understand:\n\n{paragraph}",
          clauses=_PROSE_FAITHFUL + ("Avoid jargon.", "Keep it about the same length.")),
    ),
)

_STEPS = ("Show every step.", "State any assumptions you make.", "Put the final answer on its own line.",
          "Check the result a second way.")
_GENERAL = _STEPS + ("Then generalise the answer.",)
_SCALED = _STEPS + ("Also say how the answer changes if the numbers double.",)

LOGIC = Profile(
    weight=0.06, beta=(3.5, 2.5), max_clauses=3,
    systems={"none": 0.45, "tutor": 0.3, "assistant": 0.25},
    families=(
        f(0.3, "A train leaves {city} at {hour}:00 at {speed1} km/h. Another leaves {city2}, {dist} km away, "
               "at {hour2}:00 at {speed2} km/h, heading towards the first. When and where do they meet?",
          "Two trains, {dist} km apart: one from {city} at {hour}:00 doing {speed1} km/h, the other from "
          "{city2} at {hour2}:00 doing {speed2} km/h, towards each other. At what time do they meet, and "
          "how far from {city}?",
          clauses=_SCALED),
        f(0.35, "A drawer holds {k1} red, {n} blue and {k2} green socks. How many must I pull out in the "
                "dark to be sure of a matching pair? And of two matching pairs?",
          "Socks in a drawer: {k1} red, {n} blue, {k2} green. In the dark, how many do I take to "
          "guarantee one matching pair, and how many for two pairs?",
          clauses=_GENERAL),
        f(0.55, "We have {n} engineers and {k2} tickets sized 1, 2, 3, 5 or 8 points. How should we split "
                "them so the load is as even as possible? Explain the approach step by step.",
          "Split {k2} tickets (1, 2, 3, 5 or 8 points each) across {n} engineers as evenly as possible. "
          "What method would you use, and why does it work?",
          clauses=_GENERAL),
        f(0.6, "Prove that 1 + 3 + 5 + ... + (2n - 1) = n^2, then use it to find the sum of the first {k3} "
               "odd numbers.",
          "Show that the first n odd numbers, 1 + 3 + 5 + ... + (2n - 1), add up to n^2, and apply it to "
          "the first {k3} odd numbers.",
          clauses=_STEPS),
        f(0.5, "Rent or buy? Rent is ${rent} a month; the flat costs ${house_price} with a {rate}% mortgage "
               "over {years} years. Work through the numbers over {k1} years.",
          "Over {a_k1}-year horizon, is it better to pay ${rent}/month rent or buy for ${house_price} with "
          "a {years}-year mortgage at {rate}%? Work it out.",
          clauses=_SCALED),
        f(0.55, "{first_name}, {first_name2}, {first_name3}, {first_name4} and {first_name5} sit in a row. "
                "{first_name} is not at either end, {first_name2} sits directly right of {first_name3}, and "
                "{first_name4} is not next to {first_name}. How many seatings are possible?",
          "Five people in a row: {first_name}, {first_name2}, {first_name3}, {first_name4}, {first_name5}. "
          "Constraints: {first_name} isn't on an end; {first_name2} is immediately to the right of "
          "{first_name3}; {first_name4} and {first_name} aren't neighbours. Count the arrangements.",
          clauses=_GENERAL),
        f(0.3, "A jacket costs ${price_small} after {a_pct}% discount. What was the original price?",
          "After {pct}% off, a jacket is ${price_small}. What did it cost before the discount?",
          clauses=_SCALED),
        f(0.5, "A bag has {k1} white and {k2} black balls. I draw {n_draw} without replacement. What's the "
               "probability that exactly two are black?",
          "Drawing {n_draw} balls without replacement from {k1} white and {k2} black, what is P(exactly "
          "two black)?",
          clauses=_GENERAL),
        f(0.65, "Vendor A charges ${vendor_a} a year for 99.5% uptime; vendor B charges ${vendor_b} for "
                "99.95%. An hour of downtime costs us ${downtime_cost}. Which is cheaper in expectation?",
          "Expected yearly cost: vendor A at ${vendor_a} with 99.5% uptime or vendor B at ${vendor_b} with "
          "99.95%, when each hour down costs ${downtime_cost}?",
          clauses=_SCALED),
        f(0.45, "Plan {a_n}-day rail trip through {city}, {city2} and {city3} with a budget of ${budget}. "
                "Which order minimises travel time, and how should the days be split?",
          "I have {n} days and ${budget} to visit {city}, {city2} and {city3} by train. Work out the best "
          "order and how many days to spend in each.",
          clauses=_STEPS),
        f(0.7, "A staircase has {k2} steps and you can climb 1, 2 or 3 at a time. In how many ways can you "
               "reach the top? Derive the recurrence.",
          "Count the ways to climb {k2} stairs taking 1, 2 or 3 steps at once, and explain the "
          "recurrence you use.",
          clauses=_GENERAL),
        f(0.4, "If all {group_a} are {group_b} and some {group_b} are {group_c}, must some {group_a} be "
               "{group_c}?",
          "All {group_a} are {group_b}. Some {group_b} are {group_c}. Does it follow that some {group_a} "
          "are {group_c}? Explain.",
          clauses=_STEPS[:2] + ("Give a counterexample if it doesn't follow.",)),
        f(0.75, "Our team of {n} must finish {k2} tasks; some depend on others and each takes 1-5 days. "
                "Describe how to find the shortest schedule and what the critical path tells us.",
          "Given {k2} tasks with dependencies, durations of 1-5 days and {n} people, how do we find the "
          "minimum project length? Walk through the method.",
          clauses=_STEPS[:2] + ("Work through a small example with six tasks.",)),
    ),
)

_FICTION_COMMON = ("Keep it family-friendly.", "Avoid clichés.")

FICTION = Profile(
    weight=0.05, beta=(2.0, 3.0), max_clauses=4,
    systems={"none": 0.4, "writer": 0.35, "assistant": 0.25},
    families=(
        f(0.3, "Write {a_poem_form} about {poem_subject}.", "Could you write me {a_poem_form} about {poem_subject}?",
          clauses=_FICTION_COMMON + ("Make it rhyme.", "Exactly {n_lines} lines.", "Write it in the second person.")),
        f(0.5, "Write a short story of about {n_words} words about {a_character} who {plot}.",
          "Short story, roughly {n_words} words: {a_character} {plot}.",
          clauses=_FICTION_COMMON + ("End with a twist.", "Write it in the second person.", "Set it in {setting}.")),
        f(0.2, "Give me {n} name ideas for {a_business}.", "Brainstorm {n} names for {a_business}.",
          clauses=("Each name should be one or two words.", "Check they'd work as a domain name.", "Avoid puns.")),
        f(0.25, "Write a slogan for {product}.", "I need a catchy tagline for {product}.",
          clauses=("Give me {k1} options.", "Under eight words.", "Funny, but not silly.")),
        f(0.35, "Write landing-page copy for {product}: a headline, a subheading and three short "
                "benefit blurbs.",
          "Landing page for {product}: give me the headline, a subheading and three benefit blurbs.",
          clauses=_FICTION_COMMON + ("Funny, but not silly.", "Use {a_tone} tone.")),
        f(0.55, "Write the opening scene of a mystery set in {setting}.",
          "Open a mystery novel for me. Setting: {setting}.",
          clauses=_FICTION_COMMON + ("End with a twist.", "Write it in the first person.",
                                     "Introduce the detective in the first paragraph.")),
        f(0.25, "Come up with {n} themes for {a_occasion} party.", "{n} party theme ideas for {a_occasion}?",
          clauses=("Include one food idea per theme.", "Keep it cheap.")),
        f(0.4, "Write {music_genre} song lyrics about {poem_subject}.",
          "Lyrics for a {music_genre} song about {poem_subject}, please.",
          clauses=("Make it rhyme.", "Include a chorus that repeats.", "Funny, but not silly.")),
        f(0.45, "Write a bedtime story for {a_age}-year-old about {a_animal} who {plot}.",
          "Bedtime story for my {age}-year-old: {a_animal} {plot}.",
          clauses=_FICTION_COMMON + ("Make it rhyme.", "Under {n_words} words.",
                                     "End with the {animal} falling asleep.")),
        f(0.6, "Write a dialogue between {person} and a modern teenager who shows them a smartphone.",
          "Imagine {person} meets a teenager today who hands them a smartphone. Write their conversation.",
          clauses=("Funny, but not silly.", "Keep it historically plausible for {person}.", "Under {n_words} words.")),
        f(0.3, "Write a funny toast for {first_name}'s {occasion}.",
          "Help me with a short, funny toast for my friend {first_name}'s {occasion}.",
          clauses=("Under two minutes when read aloud.", "Mention that we met at university.",
                   "Keep it family-friendly.")),
        f(0.5, "Invent a card game for {n} players with a {setting_short} theme and explain the rules.",
          "Design a {setting_short}-themed card game for {n} players, rules included.",
          clauses=("A game should last under {k2} minutes.", "Use a standard 52-card deck.",
                   "Include a scoring example.")),
    ),
)
