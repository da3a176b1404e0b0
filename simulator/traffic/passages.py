"""Pasted prose: news paragraphs, product copy, notes, changelogs, emails and reviews that prompts quote."""

PARAGRAPH_BANKS: tuple[tuple[str, ...], ...] = (
    ("{company} reported quarterly revenue of ${k3} million, up {pct}% on the same period last year.",
     "Most of the growth came from its subscription business, which now makes up nearly a third of sales.",
     "The company opened an office in {city} and expects to hire around {k2} people there by the end of "
     "the year.",
     "Operating costs rose faster than expected, mainly because of higher shipping and energy prices.",
     "Customer churn fell for the third quarter in a row, which management credited to a redesigned "
     "onboarding process.",
     "Even so, the company lowered its full-year guidance, citing uncertainty in {country}.",
     "Shares rose {pct2}% in early trading after the announcement."),
    ("Researchers in {city} found that street trees can lower summer pavement temperatures by as much as "
     "{k1} degrees.",
     "The team measured {k3} streets over {k1} summers, comparing blocks with and without mature trees.",
     "Shaded streets also saw fewer heat-related ambulance calls during heatwaves.",
     "The effect was strongest in neighbourhoods with little green space to begin with.",
     "The authors caution that young trees take a decade or more to give meaningful shade.",
     "City officials say the findings will shape where the next {k2} thousand trees are planted."),
    ("A survey of {k3} companies found that {pct}% now let most staff work remotely at least two days a week.",
     "Employers reported lower office costs, but many said onboarding new hires had become harder.",
     "Managers in {city} were the most likely to ask teams back to the office full time.",
     "Employees ranked flexible hours above almost every other benefit.",
     "The report recommends written onboarding plans and regular in-person weeks for new teams.",
     "Only a minority of firms measure whether hybrid arrangements affect productivity at all."),
    ("Sleep researchers have long suspected that memories are consolidated while we sleep.",
     "In a new study, {k2} volunteers learned word pairs in the evening and were tested the next morning.",
     "Those who slept at least seven hours recalled {pct}% more pairs than those kept awake.",
     "Brain scans showed bursts of activity during deep sleep that replayed the learning session.",
     "The researchers now want to test whether short afternoon naps have a similar effect.",
     "They warn that the sample was small and drawn mostly from university students in {city}."),
)

PRODUCT_BLURB = (
    "Meet the {company} {gadget}, built for people who want more from every day.",
    "It charges fully in {k1} hours and lasts up to {k2} hours on a single charge.",
    "The casing is made from recycled aluminium and comes in three colours.",
    "Setup takes minutes with our companion app for iOS and Android.",
    "Every order ships free and comes with {a_k1}-year warranty.",
    "Thousands of customers already use it at home and at work.",
)

MEETING_NOTES = (
    "- {service} migration to {db} slipped {k1} weeks, blocked on the data backfill",
    "- {first_name} owns the rollback plan, draft due Friday",
    "- agreed to freeze schema changes until cutover",
    "- load test: p95 {ms} ms at {rps} rps, inside budget",
    "- open question: keep the old read path for a month or switch at once?",
    "- support wants {k1} days' notice before customers see anything",
    "- {first_name2} to check licence costs with finance",
    "- next sync Thursday, same time",
)

CHANGES = (
    "- Added {feature} for {entities}",
    "- Fixed a crash when {a_entity} had no {field}",
    "- The {service} service now retries failed calls to {queue} up to {k1} times",
    "- Search over {entities} is {pct}% faster",
    "- The v1 {entity} endpoints are deprecated and will be removed in the next major release",
    "- Upgraded the {db} driver",
    "- Exports now include the {num_field} column",
)

SYSTEM_CONTEXT = (
    "Some background: we run about {k2} services on {cloud}, and the {service} service owns the {entities} "
    "in {db}.",
    "Changes are published to {queue} and consumed by {n} other services.",
    "Peak traffic is around {rps} requests per second.",
    "The team is {k1} engineers, and two other teams depend on the current API.",
    "Deploys go out several times a day through a blue-green pipeline.",
    "Last quarter we had two incidents where a slow {db} query took the whole service down.",
)

TYPO_EMAILS = (
    "Hi {first_name},\n\nThanks for you're quick reply. I wanted to confirm that we will be shiping the "
    "{k2} units on thursday, however the invoice still show the old price. Could you please send a "
    "updated one before friday?\n\nBest regards,\n{first_name2}",
    "Dear {first_name},\n\nI am writting to follow up on our meeting last week. As discused, we would "
    "like to move forward with the pilot in {city}, but we need the contract to reflect the {pct}% "
    "discount we agreed. Let me know if their is anything else you need from us.\n\nKind regards,\n"
    "{first_name2}",
    "Hello team,\n\nJust a reminder that the office will be close on monday for maintainance. Please "
    "make sure all you're laptops are updated before then, and let {first_name} know if you has any "
    "problem.\n\nThanks,\n{first_name2}",
)

CUSTOMER_EMAILS = (
    "Hello, I bought {product} from you {k1} weeks ago and I'm not happy with it. It doesn't work the way "
    "the website described. I want my money back, not a replacement. Order {order_id}. {first_name}",
    "Hi, I'd like a full refund for order {order_id}. The item arrived late and I no longer need it. I know "
    "it's past the return window but that's not my fault. Regards, {first_name}",
)

REVIEWS = (
    "Delivery took {k1} days longer than promised.",
    "Great product, but the app keeps logging me out.",
    "Customer service never replied to my email.",
    "Works as described. Battery could be better.",
    "The sizing chart is completely wrong, had to return it twice.",
    "Arrived damaged, the box was crushed.",
    "Love it! Already ordered a second one.",
    "Checkout failed three times before my payment went through.",
    "Too expensive for what you get.",
    "Tracking link didn't work, no idea where my parcel was for a week.",
)
