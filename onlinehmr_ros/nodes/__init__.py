"""One thin rclpy Node per pipeline stage; no algorithm lives here."""
