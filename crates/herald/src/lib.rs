//! herald: event-driven microservices on Kafka.
